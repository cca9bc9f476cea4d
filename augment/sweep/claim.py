"""A sweep's folder and its claim on it. ``sweep.json`` (the notebook, the grid with its run
names, the fixed parameters and the digests of the files among them) is created once, as a job
claims its output (:func:`augment.locations.create_once`), and locked while the sweep runs: a
second sweep into the folder is refused, naming the first, and a resume goes on only with the
same identity."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from augment.errors import UsageError
from augment.storage import expand
from augment.text import plural


def sweep_folder(out: str | os.PathLike[str] | None = None) -> Path:
    """A sweep's folder, created: ``out``, or a new one under the temporary directory for ``None``.

    Raises:
        UsageError: ``out`` is a file, or cannot be created.
    """
    import tempfile

    path = Path(expand(out)) if out is not None else Path(tempfile.mkdtemp(prefix="augment-sweep-"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"out={out}: a file is in the way, not a folder; name a folder for the sweep") \
            from None
    except OSError as e:
        raise UsageError(f"out={out}: cannot create it ({e.strerror or e}); name a folder you may write to") \
            from None
    return path


CLAIM = "sweep.json"


def _claim(out: Path, identity: dict[str, Any], resume: bool) -> BinaryIO:
    """Claim ``out`` for this sweep, before any run: ``sweep.json`` (the notebook, the grid
    with its run names, the fixed parameters, when it started) is created whole and only
    once (:func:`~augment.locations.create_once`), then locked while the sweep runs.

    Returns:
        ``sweep.json``, open and locked: closing it ends the claim.

    Raises:
        UsageError: ``out`` is a file or cannot be written; it holds another sweep (named);
            it holds this one and ``resume`` is false; or a sweep is running there.
    """
    from augment.locations import create_once

    identity = json.loads(json.dumps(identity, default=str))  # as it reads back: tuples are lists, paths text
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    path = out / CLAIM
    named_out, new_out = f"out={out}", "use a new out="
    sweep_folder(out)
    try:
        created = create_once(path, json.dumps({**identity, "started": stamp}, indent=1).encode())
        lock = open(path, "rb")  # the claim, held until the sweep ends
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise UsageError(f"{named_out}: {path} is in the way (not a sweep's file); {new_out}") from None
    except OSError as e:
        raise UsageError(f"{named_out}: cannot write there ({e.strerror or e}); name a folder you may write to") \
            from None
    if not _locked(lock):
        lock.close()
        raise UsageError(f"{named_out}: a sweep is running there (another process); wait for it to end, or "
                         f"{new_out}") from None
    if created:
        return lock
    try:
        first = json.loads(lock.read().decode("utf-8"))
        if not isinstance(first, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        lock.close()
        raise UsageError(f"{named_out}: its {CLAIM} is damaged ({e}); {new_out}") from None
    differ = [what for key, what in (("notebook", "another notebook"), ("grid", "another grid"),
                                     ("params", "other fixed parameters (params=)"))
              if first.get(key) != identity[key]]
    if not differ and first.get("files") != identity["files"]:
        before = first.get("files") if isinstance(first.get("files"), dict) else {}
        edited = [name for name, digest in identity["files"].items() if before.get(name) != digest]
        differ.append(f"files whose contents changed since ({', '.join(edited) or 'none recorded then'})")
    grid = first.get("grid") if isinstance(first.get("grid"), list) else []
    named = (f"the sweep of {Path(str(first.get('notebook'))).name} started {first.get('started', '?')}, "
             f"{plural(len(grid), 'run')}")
    if differ:
        lock.close()
        raise UsageError(f"{named_out} holds another sweep ({named}; this one has {' and '.join(differ)}): its "
                         f"records would mix with this one's. {new_out[0].upper()}{new_out[1:]}")
    if not resume:
        lock.close()
        raise UsageError(f"{named_out} already holds this sweep ({named}): pass resume=True to finish it, or "
                         f"{new_out}")
    return lock


def _locked(claim: BinaryIO) -> bool:
    """Lock the open claim for this process; ``False`` when another process holds it. Where
    there are no such locks (not POSIX, a file system without them), the claim alone
    refuses another sweep."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return True
    try:
        fcntl.flock(claim.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        pass
    return True


def _file_digests(values: Iterable[Any]) -> dict[str, str]:
    """The SHA-256 of every file among ``values`` (absolute paths, as :func:`~augment.sweep.grid._from_here`
    makes them): a sweep's identity holds what its spec files say, not only their names,
    so a spec edited between a sweep and its resume is not mixed into one summary."""
    digests = {}
    for value in values:
        if isinstance(value, str) and os.path.isabs(value) and os.path.isfile(value):
            try:
                digests[value] = hashlib.sha256(Path(value).read_bytes()).hexdigest()
            except OSError:
                continue  # unreadable here: the run that reads it says why
    return dict(sorted(digests.items()))
