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
* **Disk**: every build of a new revision adds about 6 GB of layers (the runtime stage's copy
  of the virtual environment), and CI's machines keep the engine's store from run to run.
  :func:`reclaim` removes what earlier runs left (every ``augment-test`` image and the
  layers no image names any more) before a build and this run's images after it; the
  dependency stage (torch, several minutes to install) stays, tagged ``augment-test-cache``.
  A build that would not fit says so before it starts.

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
REPOSITORY = "augment-test"
"""The repository the tests build into; nothing else names it, so its images are theirs to remove."""
CACHE_TAG = "augment-test-cache:deps"
BUILD_NEEDS = 16 * 2**30
"""Free bytes a build needs: the runtime stage's copy of the venv (about 6 GB) is written twice
(a temporary blob, then the layer), and the package stage adds its own."""


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


def _ours(found: engines.Engine) -> list[str]:
    """Every ``REPOSITORY:tag`` the engine holds (podman names them ``localhost/...``)."""
    listed = run(found.cmd("images", "--format", "{{.Repository}}:{{.Tag}}"), capture_output=True).stdout
    return sorted({name for name in listed.split()
                   if name.rpartition(":")[0].rpartition("/")[2] == REPOSITORY})


def reclaim(found: engines.Engine, names: list[str] | None = None) -> None:
    """Remove ``names`` (default: every image of :data:`REPOSITORY`), then the layers no
    image names any more. With podman, first the working containers of builds that were cut
    short, which hold their layers. The base images and :data:`CACHE_TAG` stay."""
    names = _ours(found) if names is None else names
    if found.name == "podman":  # a build cut short (a full disk, a killed run) leaves its working containers
        listed = run(found.cmd("ps", "--all", "--external", "--format", "{{.ID}} {{.Names}} {{.Status}}"),
                     capture_output=True).stdout.splitlines()
        builders = [line.split()[0] for line in listed
                    if line.endswith(" Storage") and "-working-container" in line]
        if builders:
            run(found.cmd("rm", "--force", *builders), capture_output=True)
    if names:
        run(found.cmd("rmi", "--force", *names), capture_output=True)
    run(found.cmd("image", "prune", "--force"), capture_output=True)


def keep_dependency_stage(found: engines.Engine, output: str) -> None:
    """Tag the build's dependency stage (:data:`CACHE_TAG`) so that :func:`reclaim` keeps it.
    podman prints its ID where the next stage starts from it; Docker's BuildKit keeps its
    cache apart from images, so there is nothing to do there."""
    stage = re.search(r"FROM ([0-9a-f]{64}) AS package", output)
    if found.name == "podman" and stage:
        run(found.cmd("tag", stage.group(1), CACHE_TAG), capture_output=True, check=True)


def check_room(found: engines.Engine) -> None:
    """Fail before building where the engine's store or its temporary folder lacks
    :data:`BUILD_NEEDS` free bytes (a build that runs out fails minutes in, on a layer's blob)."""
    info = run(found.cmd("info", "--format", "{{.Store.GraphRoot}}" if found.name == "podman"
                         else "{{.DockerRootDir}}"), capture_output=True).stdout.strip()
    places = [Path(info)] if info and Path(info).is_dir() else []
    places.append(Path(os.environ.get("TMPDIR", "/var/tmp")))
    for place in places:
        free = shutil.disk_usage(place).free
        if free < BUILD_NEEDS:
            raise RuntimeError(f"{place} has {free / 2**30:.1f} GiB free; the image build needs about "
                               f"{BUILD_NEEDS / 2**30:.0f} GiB. `{found.name} system df` shows what the engine "
                               f"holds; `{found.name} image prune` removes unnamed layers")


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
