"""What the image tests need around the engine: a Python base image, an index for torch, and
podman's settings, on a laptop with Docker as on CI's machines, which reach no container
registry and only PyPI, Debian's and npm's package registries.

* **The engine**: Docker, else podman (:mod:`augment.engines`). Where podman cannot start a
  container with its own defaults (this CI's kernel refuses its default rlimits), the
  tests use ``tests/image/containers.conf`` through ``CONTAINERS_CONF``, and say so.
* **The base** (``PYTHON_IMAGE``): ``AUGMENT_TEST_BASE_IMAGE`` if set; else
  ``python:3.11-slim-bookworm`` where the engine has it or can pull it; else, with podman
  and ``debootstrap``, an equivalent made from Debian's packages
  (``tests/image/base.Containerfile``), once per machine.
* **The torch index** (``TORCH_INDEX_URL``): ``AUGMENT_TEST_TORCH_INDEX_URL`` if set; else,
  where pip is configured with ``file://`` indexes (wheels on local disk, as here), those
  merged and served on 127.0.0.1 for the build (which then uses the host's network);
  else the Dockerfile's default, PyTorch's CPU index.

Nothing here changes the Dockerfile: the build differs only by build arguments.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from augment import engines

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BASE_TAG = "localhost/augment-test-python:3.11-bookworm"
DEBIAN_TAG = "localhost/augment-test-debian:bookworm-minbase"
SLIM = "python:3.11-slim-bookworm"
INDEX_PORT = 38117


def log(message: str) -> None:
    print(f"image tests: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, **kwargs)


def extension_check(dockerfile: Path = ROOT / "container" / "Dockerfile") -> tuple[str, str]:
    """The Dockerfile's check of the compiled extensions: (the WORKDIR it runs in, its shell command).

    Raises:
        AssertionError: the package stage has no such check.
    """
    text = dockerfile.read_text().replace("\\\n", "")
    stage = text[text.index("AS package"):text.index("# --- runtime")]
    workdir = "/"
    for line in stage.splitlines():
        if line.startswith("WORKDIR "):
            workdir = line.split(None, 1)[1].strip()
        if line.startswith("RUN ") and "augment._native" in line:
            return workdir, line[len("RUN "):]
    raise AssertionError("the package stage has no check of the compiled extensions")


def engine() -> engines.Engine:
    """The engine the tests build and run with; podman's settings fixed where this machine needs them."""
    found = engines.find()
    if found is None:
        raise RuntimeError("the image tests need Docker or podman (none answers here); on Debian, as root: "
                           "apt-get install podman runc debootstrap")
    return found


def fix_podman_settings(found: engines.Engine, image: str) -> None:
    """Start ``image`` once; where podman refuses its default rlimits here, use the tests'
    ``containers.conf`` from now on (this process and what it starts)."""
    if found.name != "podman" or os.environ.get("CONTAINERS_CONF"):
        return
    probe = run(found.cmd("run", "--rm", image, "true"), capture_output=True)
    if probe.returncode != 0 and "rlimit" in probe.stderr:
        os.environ["CONTAINERS_CONF"] = str(HERE / "containers.conf")
        log(f"podman cannot set its default rlimits here: using {HERE / 'containers.conf'}")


def base_image(found: engines.Engine) -> str:
    """The ``PYTHON_IMAGE`` build argument (see the module's docstring). The caller runs
    :func:`fix_podman_settings` on it; making the Debian base runs it first on its root."""
    chosen = os.environ.get("AUGMENT_TEST_BASE_IMAGE")
    if chosen:
        return chosen
    if found.has_image(SLIM) or run(found.cmd("pull", SLIM), capture_output=True).returncode == 0:
        return SLIM
    if found.has_image(BASE_TAG):
        return BASE_TAG
    if found.name != "podman" or shutil.which("debootstrap") is None:
        raise RuntimeError(f"no {SLIM} here and no registry to pull it from: set AUGMENT_TEST_BASE_IMAGE to a "
                           "Python 3.11 image with its headers, or install podman and debootstrap")
    log(f"no registry answers: making {BASE_TAG} from Debian's packages (debootstrap, once per machine)")
    with tempfile.TemporaryDirectory(prefix="augment-rootfs-") as rootfs:
        run(["debootstrap", "--variant=minbase", "bookworm", rootfs, "http://deb.debian.org/debian"],
            check=True, capture_output=True)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(found.cmd("import", "-", DEBIAN_TAG), stdin=tar.stdout, check=True, capture_output=True)
        if tar.wait() != 0:
            raise RuntimeError("tar of the Debian root failed")
    fix_podman_settings(found, DEBIAN_TAG)
    with tempfile.TemporaryDirectory(prefix="augment-base-") as context:
        shutil.copy(HERE / "base.Containerfile", Path(context) / "Containerfile")
        # pip inside the build trusts what pip here trusts (a proxy's CA, where there is one)
        shutil.copy(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt", Path(context) / "host-ca.crt")
        run(found.cmd("build", "--network", "host", "--build-arg", f"DEBIAN_IMAGE={DEBIAN_TAG}", "-t", BASE_TAG,
                      context), check=True, capture_output=True)
    return BASE_TAG


def local_indexes() -> list[Path]:
    """The folders of the ``file://`` package indexes pip is configured with here."""
    listed = run([sys.executable, "-m", "pip", "config", "list"], capture_output=True).stdout
    found = []
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(("index-url", "extra-index-url")):
            for url in value.strip("'\"").split():
                if url.startswith("file://"):
                    path = Path(unquote(urlparse(url).path))
                    if path.is_dir():
                        found.append(path.parent if path.name == "simple" else path)
    return found


def _merged_page(roots: list[Path], name: str) -> bytes | None:
    """One simple-index page for project ``name`` with the links of every root. The links
    are relative (``../../files/...``): :func:`serve_indexes` finds each file in whichever
    root has it."""
    links = []
    for root in roots:
        page = root / "simple" / name / "index.html"
        if page.is_file():  # each anchor whole: pip reads its data-requires-python too
            links += re.findall(r"<a\s[^>]*>[^<]*</a>", page.read_text())
    if not links:
        return None
    return ("<!DOCTYPE html><html><body>\n" + "<br>\n".join(links) + "\n</body></html>\n").encode()


@contextlib.contextmanager
def serve_indexes(roots: list[Path]) -> Iterator[str]:
    """Serve the indexes under ``roots`` as one, on 127.0.0.1; yield its ``/simple`` URL."""

    class _Index(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if len(parts) == 2 and parts[0] == "simple":
                page = _merged_page(roots, parts[1].lower())
                if page is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            super().do_GET()

        def translate_path(self, path: str) -> str:
            for root in roots:
                candidate = Path(http.server.SimpleHTTPRequestHandler.translate_path(self, path))
                moved = root / candidate.relative_to(Path(self.directory))
                if moved.exists():
                    return str(moved)
            return str(roots[0] / "missing")

        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(_Index, directory=str(roots[0]))
    try:  # one port from run to run: the build's layers are cached by its arguments, the index URL among them
        server = http.server.ThreadingHTTPServer(("127.0.0.1", INDEX_PORT), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
