"""moto's server as a real HTTP peer for S3 and the SageMaker control plane."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_SESSION_TOKEN": "testing"}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto on 127.0.0.1 (a free port) and point every AWS client at it via the
    environment, which subprocesses inherit. Yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state in this process across servers: start every server empty, so a
    # module sees no bucket or job that an earlier module made
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=endpoint)
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def recorded(text: str) -> list[dict]:
    """moto's recording, one JSON object per request. Its recorder appends from concurrent
    requests (an upload's parts in flight) without a lock, so two records can share a line:
    read object after object, not line by line."""
    decoder, at, records = json.JSONDecoder(), 0, []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return records
        record, at = decoder.raw_decode(text, at)
        records.append(record)
