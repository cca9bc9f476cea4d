"""The output folder: its claim (``spec.yaml`` made once, a host's manifest locked), what
an earlier run of the job there did and the checks that a resume is the same job, and
the temporary files that writers killed midway left.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from augment import manifest as mf
from augment.engine.summary import versions
from augment.errors import UsageError
from augment.locations import META_DIR, another_spec_message, check_disjoint, create_once
from augment.manifest import ORIGINAL
from augment.spec import Spec, load_spec


def _check_dirs(input_dir: Path, output_dir: Path) -> None:
    if not input_dir.is_dir():
        raise UsageError(f"input_dir={input_dir}: not a directory"
                         + ("; process reads a folder: to read s3:// objects, launch a job with augment run --input"
                            if "s3:" in str(input_dir).lower() else ""))
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"output_dir={output_dir}: not a directory (a file is there); name a folder to write "
                         "the outputs into (it is created if missing)")
    check_disjoint(str(input_dir), str(output_dir), input_flag="input_dir", output_flag="output_dir")


@dataclass
class _Previous:
    """What an output directory's manifest says was done, read in one streaming pass.

    Attributes:
        done: per input, a bit mask of the copies not to do again (bit ``copy + 1``): an
            "ok" record whose output is there (and, with ``verify``, has its SHA-256), or
            a failure that would fail again. About 100 bytes per input, whatever the
            manifest's size.
        failed: the failed records kept (not retried), per input and copy.
        redo: why each (input, copy) that has a record is done again.
        written, originals: the kept "ok" records of augmented copies and of originals.
    """

    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    redo: dict[tuple[str, int], str] = field(default_factory=dict)
    written: int = 0
    originals: int = 0

    def tally(self) -> mf.Tally:
        tally = mf.Tally()
        tally.written, tally.originals = self.written, self.originals
        tally.add(rec for copies in self.failed.values() for rec in copies.values())
        return tally

    def redo_counts(self) -> str:
        counts = Counter(self.redo.values())
        return ", ".join(f"{why}: {n}" for why, n in counts.most_common())


def _output_problem(rec: dict[str, Any], output_dir: Path, verify: bool) -> str | None:
    """Why the output of an "ok" record cannot be kept, or ``None``."""
    path = output_dir / rec["output"]
    if not verify:
        return None if path.is_file() else "missing_output"
    try:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return "missing_output"
    except OSError:
        return "unreadable_output"
    return None if digest == rec["output_sha256"] else "changed_output"


def _check_same_spec(spec: Spec, meta: Path) -> None:
    """Refuse an output folder whose ``spec.yaml`` is another spec's."""
    spec_path = meta / "spec.yaml"
    if spec_path.exists():
        old = load_spec(spec_path)
        if old.digest != spec.digest:
            raise UsageError(another_spec_message(str(meta.parent), str(spec_path), old.digest, spec.digest,
                                                  "output_dir"))


_MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
"""Why a folder cannot be written that lies in the machine, not the request: another
attempt (a new instance) may pass."""


def _cannot_write(output_dir: Path, e: OSError) -> UsageError:
    return UsageError(f"output_dir={output_dir}: cannot write there ({e.strerror or e}"
                      + (f": {e.filename}" if e.filename else "") + "); name a folder this user may write to",
                      transient=e.errno in _MACHINE_ERRNOS)


def _claim_output(spec: Spec, meta: Path, manifest_path: Path, resume: bool, manifest_size: int) -> BinaryIO:
    """Claim the output folder for this spec, atomically, before any output is written.

    ``spec.yaml`` appears whole and only once (a hard link of a complete temporary
    file, which fails if it exists): of two jobs that start together, one creates it and
    the other finds it and compares digests, so a job with another spec is refused
    however close their starts. Hosts of one job (one spec) share the folder, each with
    its own manifest, which a new job creates exclusively too, and which stays locked
    (``flock``) while the job runs: of two runs of one host's job, one is refused.
    The job appends its records through the returned file, so the lock is the
    manifest's own, held until the file is closed.

    Args:
        manifest_size: the manifest's size when the records done were read (-1: none);
            a resume whose manifest grew since then is refused, as another process wrote it.

    Returns:
        The manifest, locked, unbuffered, open to append (a torn last line cut off, see
        :func:`~augment.manifest.cut_torn_line`): closing it ends the claim.

    Raises:
        UsageError: another spec's job holds the folder, this host's manifest exists
            without ``resume`` or is being written by another process, or the folder
            cannot be written.
    """
    spec_path = meta / "spec.yaml"
    try:
        meta.mkdir(parents=True, exist_ok=True)
        create_once(spec_path, spec.to_yaml().encode())  # as dump_spec writes it; a sweep claims its folder so too
        _check_same_spec(spec, meta)
        try:
            lock = open(manifest_path, "ab+" if resume else "xb+", buffering=0)  # unbuffered: see mf.write_records
        except FileExistsError:
            raise UsageError(_host_job_message(manifest_path)) from None
    except UsageError:
        raise
    except OSError as e:
        raise _cannot_write(meta.parent, e) from None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise UsageError(_busy_message(manifest_path)) from None
    except OSError:  # a file system without locks: the size check below still catches most
        pass
    if resume and os.fstat(lock.fileno()).st_size != max(manifest_size, 0):
        lock.close()
        raise UsageError(_busy_message(manifest_path)) from None
    try:
        mf.cut_torn_line(lock)  # only now: the tail of a manifest another process appends to is not ours to cut
    except BaseException:
        lock.close()
        raise
    return lock


def _busy_message(manifest_path: Path) -> str:
    return (f"{manifest_path} is being written by another augment process: this host's job is running. Wait "
            "for it to end (then resume=True finishes it, if it has to), or use a new output_dir=.")


def _host_job_message(manifest_path: Path) -> str:
    return (f"{manifest_path} exists: this output directory already holds this host's job. "
            "Pass resume=True to finish it, or use a new output_dir=.")


def _previous_work(spec: Spec, meta: Path, manifest_path: Path, summary_path: Path, resume: bool,
                   input_dir: Path, verify: bool = False, retry_failed: bool = False) -> _Previous:
    """Check an output directory that may hold earlier work, and read what it holds.

    The manifest is read once, as a stream, keeping only the latest record's outcome
    per (input, copy): an "ok" whose output is missing (or changed, with ``verify``)
    is redone, and so is a failure that may pass now (:data:`~augment.manifest.TRANSIENT_REASONS`;
    every failure with ``retry_failed``).
    """
    _check_same_spec(spec, meta)  # early, before the inputs are listed; _claim_output decides
    previous = _Previous()
    if not manifest_path.exists():
        return previous
    if not resume:
        raise UsageError(_host_job_message(manifest_path))
    _check_same_libraries(summary_path)
    _check_same_input(summary_path, input_dir)
    _check_same_filters(summary_path, spec)
    done, failed, redo = previous.done, previous.failed, previous.redo
    output_dir = meta.parent
    for rec in mf.iter_manifest(manifest_path):  # streamed: a resumed manifest can be millions of lines
        source, copy = rec["source"], rec["copy"]
        bit = 1 << (copy + 1)
        mask = done.get(source, 0)
        if mask & bit:  # a later record of this (input, copy) replaces the earlier one
            if source in failed and failed[source].pop(copy, None) is not None:
                if not failed[source]:
                    del failed[source]
            elif copy == ORIGINAL:
                previous.originals -= 1
            else:
                previous.written -= 1
            mask &= ~bit
        redo.pop((source, copy), None)
        if rec["status"] == "ok":
            why = _output_problem(rec, output_dir, verify)
            if why is None:
                mask |= bit
                if copy == ORIGINAL:
                    previous.originals += 1
                else:
                    previous.written += 1
            else:
                redo[(source, copy)] = why
        elif retry_failed or rec.get("reason") in mf.TRANSIENT_REASONS:
            redo[(source, copy)] = f"retry_{rec.get('reason') or 'failed'}"
        else:
            mask |= bit
            failed.setdefault(source, {})[copy] = rec
        if mask:
            done[source] = mask
        elif source in done:
            del done[source]
    return previous


PIXEL_LIBRARIES = ("augment", "torch", "torchvision", "pillow")
"""The recorded versions a resumed job must match: each can change an output's bytes."""


def _check_same_libraries(summary_path: Path) -> None:
    """Refuse to resume a job whose earlier part was made with other versions of the
    libraries that compute pixels: one job's outputs must come from one implementation
    (a job started before its summary was written has nothing to compare, and resumes)."""
    try:
        before = json.loads(summary_path.read_text()).get("versions") or {}
    except (OSError, ValueError):
        return
    now = versions()
    changed = [f"{lib} {before[lib]} -> {now[lib]}" for lib in PIXEL_LIBRARIES
               if lib in before and before[lib] != now[lib]]
    if changed:
        raise UsageError(f"{summary_path.parent.parent} holds a job started with other library versions "
                         f"({', '.join(changed)}); resuming would mix outputs of two implementations. "
                         "Finish it with the versions it started with, or start over in a new output_dir=.")


def started_input_dir(output_dir: str | Path, host: str = "local") -> str | None:
    """The input folder (resolved) that a host's job in ``output_dir`` started with, from
    its summary; ``None`` where there is no readable summary."""
    return _summary_input_dir(Path(output_dir) / META_DIR / f"summary-{host}.json")


def _summary_field(summary_path: Path, name: str) -> str | None:
    """A field of an earlier run's summary, or ``None`` (no summary, or not readable)."""
    try:
        return json.loads(summary_path.read_text()).get(name)
    except (OSError, ValueError, AttributeError):
        return None


def _summary_input_dir(summary_path: Path) -> str | None:
    return _summary_field(summary_path, "input_dir")


def _check_same_input(summary_path: Path, input_dir: Path) -> None:
    """Refuse to resume a job from another input folder than the one it started with:
    its inputs would join the job, and the summary would name only the second folder (a
    job killed before its summary was written has nothing to compare, and resumes)."""
    before = _summary_input_dir(summary_path)
    if before and Path(before) != input_dir.resolve():
        raise UsageError(f"resume=True: {summary_path.parent.parent} holds a job started with input_dir={before}, "
                         f"not {input_dir}; resume it with input_dir={before}, or start a new job in a new "
                         "output_dir=.")


def _check_same_filters(summary_path: Path, spec: Spec) -> None:
    """Refuse to resume a job with other input filters than it started with: the spec's
    ``input`` section is not part of its digest, and a resume with other filters would
    make one job of two input sets (a summary written before the filters were recorded
    has nothing to compare, and resumes)."""
    try:
        before = json.loads(summary_path.read_text())
        old = (before["include"], before["exclude"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    new = (list(spec.input.include), list(spec.input.exclude))
    if tuple(map(set, old)) != tuple(map(set, new)):  # the order of the patterns picks the same files
        raise UsageError(f"resume=True: {summary_path.parent.parent} holds a job started with {_filters(*old)}, and "
                         f"this resume names {_filters(*new)}; resume it with {_filters(*old)} (the spec's "
                         "input.include/input.exclude, or include= or exclude=), or start a new job in a new "
                         "output_dir=.")


def _filters(include: list[str], exclude: list[str]) -> str:
    named = [f"include={shlex.quote(g)}" for g in include] + [f"exclude={shlex.quote(g)}" for g in exclude]
    return f"the input filters {' '.join(named)}" if named else "no input filters"


_TEMP_WRITER = re.compile(r"\.(?:augment-(\d+)-\d+|spec\.(\d+))\.tmp")
"""A temporary file's name, which holds its writer's process id (see
:func:`~augment.images.atomic_write_bytes` and :func:`_claim_output`)."""


def _remove_stale_temps(output_dir: Path) -> None:
    """Remove the temporary files that writers killed midway left under ``output_dir``.

    Hosts of one job may share an output folder, so a temporary file whose writer is
    alive (another host's job, running) is kept: its rename is still to come. Each
    names its writer's process id, and a process that is alive on this machine is taken
    for its writer. (Host names in temporary names would work across machines too,
    but every writer, workers included, would need the host, and the names would be
    longer; hosts sharing a folder over a network file system are not told apart.) A
    process id reused since its writer died keeps a stale file: harmless, as it is
    hidden and never read. A temporary file named otherwise is removed.
    """
    for tmp in output_dir.rglob(".*.tmp"):
        writer = _TEMP_WRITER.fullmatch(tmp.name)
        if writer and _alive(int(writer[1] or writer[2])):
            continue
        if tmp.is_file():
            tmp.unlink(missing_ok=True)  # missing: its writer renamed it since it was listed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if pid < 1:
        return False
    try:
        os.kill(pid, 0)  # no signal: only whether it exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True
