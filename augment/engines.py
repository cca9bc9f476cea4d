"""Container engines: Docker, or podman where Docker is absent.

Both take the same ``build``, ``run``, ``tag``, ``push``, ``login``, ``stop`` and
``image inspect`` arguments, so the kit builds one argument list and puts the engine's
name first. An engine counts only when its server answers (``docker info``): a Docker
client without a daemon, as on many CI machines and in SageMaker Studio without Docker
access, is no engine. Settings of the engine itself (podman's runtime, cgroup manager,
default ulimits or network) belong in its own configuration (``containers.conf``, or the
file ``CONTAINERS_CONF`` names), not here.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass

from augment.errors import UsageError

ENGINES = ("docker", "podman")
CHOICES = ("auto", *ENGINES)
_INFO = {
    "docker": ["info", "--format", "{{json .}}"],
    "podman": ["info", "--format", "json"],
}


@dataclass(frozen=True)
class Engine:
    """A container engine that answers here.

    Attributes:
        name: ``docker`` or ``podman``, also the command that runs it.
        version: the server's version.
        rootless: its containers' root is the calling user (rootless podman, or Docker's
            rootless mode), so files a container writes as root are the caller's own.
    """

    name: str
    version: str
    rootless: bool = False

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def cmd(self, *args: str) -> list[str]:
        """``[name, *args]``: an argument list, never a shell string."""
        return [self.name, *args]

    def has_image(self, image: str) -> bool:
        """Whether ``image`` is among this engine's local images (nothing is pulled)."""
        result = subprocess.run(self.cmd("image", "inspect", image), capture_output=True, timeout=60)
        return result.returncode == 0

    def image_size(self, image: str) -> int:
        """The local image's size in bytes, as ``images`` reports it."""
        result = subprocess.run(self.cmd("image", "inspect", "--format", "{{.Size}}", image), capture_output=True,
                                text=True, timeout=60)
        if result.returncode != 0:
            raise UsageError(f"{self.name} knows no image {image!r}: {result.stderr.strip()}")
        return int(result.stdout.strip())


def _probe(name: str) -> Engine | None:
    if shutil.which(name) is None:
        return None
    try:
        result = subprocess.run([name, *_INFO[name]], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None  # a client alone: the server does not answer
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None
    return _engine(name, info) if isinstance(info, dict) else None


def _engine(name: str, info: dict) -> Engine | None:
    """The engine ``info`` describes, or ``None`` where its server did not answer.

    Podman's ``info`` (also behind a ``docker`` command, as podman-docker installs it) has
    ``host`` and ``version``; Docker's has ``ServerVersion``. Docker clients before 28.1
    print ``ServerErrors`` and exit 0 when no daemon answers."""
    if isinstance(info.get("host"), dict) and isinstance(info.get("version"), dict):
        security = info["host"].get("security") or {}
        return Engine(name, str(info["version"].get("Version", "?")), bool(security.get("rootless", False)))
    if info.get("ServerErrors") or not info.get("ServerVersion"):
        return None
    options = info.get("SecurityOptions") or []
    return Engine(name, str(info["ServerVersion"]), any("rootless" in str(o) for o in options))


@functools.cache
def _cached(name: str) -> Engine | None:
    return _probe(name)


def find(choice: str = "auto") -> Engine | None:
    """The engine to use: ``choice`` if it answers, or with ``auto`` Docker, else podman.

    Asked once per process and engine (``info`` takes a moment).

    Raises:
        UsageError: ``choice`` is not ``auto``, ``docker`` or ``podman``.
    """
    if choice not in CHOICES:
        raise UsageError(f"engine must be one of {', '.join(CHOICES)}, got {choice!r}")
    for name in ENGINES if choice == "auto" else (choice,):
        engine = _cached(name)
        if engine is not None:
            return engine
    return None


def require(choice: str = "auto", purpose: str = "this", hint: str = "") -> Engine:
    """:func:`find`, or a refusal that says what was looked for and what to do.

    Args:
        purpose: what needs the engine, as the message's subject.
        hint: what else the user may do, appended to the message.

    Raises:
        UsageError: no engine (or not the one chosen) answers here.
    """
    engine = find(choice)
    if engine is None:
        found = "neither Docker nor podman answers here" if choice == "auto" else f"{choice} does not answer here"
        raise UsageError(f"{purpose} needs a container engine, and {found} (`{choice if choice != 'auto' else 'docker'}"
                         " info` fails, or the command is missing). Install and start Docker or podman; a Docker "
                         f"client without its daemon is not enough{'. ' + hint if hint else ''}")
    return engine
