"""What the browser tests share: Debian's Chromium, and a local server (JupyterLab, Voila)
started on a free port of 127.0.0.1.

Playwright's own browser download does not work on these machines; `.ci/run` installs
Debian's `chromium` when it is missing. Without it the tests are skipped, except in CI
(`CI` set), where they fail: a browser test must not be lost silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PORT_TRIES = 5
"""A port found free can be taken by another process before the server binds it (tests
run in parallel): the server then exits saying so, and is started again on another."""


def need_chromium() -> None:
    """Skip the test without Debian's Chromium; fail it in CI."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing in CI (.ci/run installs it)")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str, port: int, probe: str | None) -> bool:
    if probe is None:  # a TCP connection: the server listens
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    try:
        return requests.get(url + probe, timeout=5).ok
    except requests.ConnectionError:
        return False


@contextlib.contextmanager
def serve(command: Callable[[int], list[str]], *, cwd: Path, log: Path, env: dict[str, str] | None = None,
          probe: str | None = None, timeout: float = 90.0) -> Iterator[str]:
    """Run the server ``command(port)`` on a free port until the block ends; yields its URL
    (``http://127.0.0.1:PORT``, no trailing slash) once it answers.

    Args:
        command: the command line for a port; the server must not pick another itself
            (JupyterLab: ``--ServerApp.port_retries=0``).
        cwd: its working folder.
        log: where its output goes (read back into the failure message).
        env: its environment (default: this one's).
        probe: a path that answers 200 once the server is ready (``/api/status``);
            ``None``: a TCP connection is enough.
        timeout: seconds it may take to answer, each start.
    """
    for attempt in range(PORT_TRIES):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "w") as out:
            proc = subprocess.Popen(command(port), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + timeout
                while proc.poll() is None and not _answers(url, port, probe):
                    assert time.monotonic() < deadline, f"{command(port)[0]} did not answer in {timeout:.0f} s:\n" \
                                                        + log.read_text()
                    time.sleep(0.3)
                if proc.poll() is None:  # it answers, and it is ours (another's would have made ours exit)
                    yield url
                    return
                said = log.read_text()
                assert "already in use" in said.lower() and attempt + 1 < PORT_TRIES, said
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
