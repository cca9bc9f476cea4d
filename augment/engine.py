"""Process many images: workers, outputs, manifest, summary, resume, graceful stop.

Output layout under the output directory::

    <rel dir>/<file name>.aug<copy>.<ext>   one augmented image per (input, copy)
    _augment/spec.yaml                      the canonical spec of the job
    _augment/manifest-<host>.jsonl          one JSON line per (input, copy)
    _augment/summary-<host>.json            counts, timings, versions, paths
    _augment/excluded-<host>.jsonl          files under the input that are not inputs, and why

The output name keeps the input's whole file name (extension included) and adds
``.aug<copy>.<ext>``, so it is a pure function of (relative path, copy, format):
``cats/chelsea.jpg`` -> ``cats/chelsea.jpg.aug0.jpg``. Reading a name from the right
recovers (path, copy, format), so two different outputs can never share a name, and
``chelsea.png`` and ``chelsea.jpg`` never overwrite each other.

With ``keep_original`` each input is also copied byte for byte as
``<name>.orig.<ext>`` (``ext`` from its detected format); the ``orig`` tag can never be
read as a copy index, so originals cannot collide with augmented outputs either.

Every image is written to a temporary file and renamed into place; its manifest
line is written only after the rename, so a line with ``"status": "ok"`` always points
at a complete file (see :mod:`augment.manifest`).

**Resume.** A job killed at any moment (SIGKILL included) is finished by running it
again with ``resume=True``: the torn manifest tail is cut off, stale temporary files
are removed, and exactly the (input, copy) pairs without a record are processed. As
outputs depend only on (spec, path, copy), the result equals an uninterrupted run
byte for byte, with one record per (input, copy). A resume with another spec, from
another input folder, or with other input filters (``--include``/``--exclude``), is
refused.

**Claim.** Before writing anything a job claims the output folder (see
:func:`_claim_output`): of two jobs with other specs, however close their starts, one
is refused, and a host's manifest is locked while its job runs.

**Inputs.** Every regular file under the input directory is an input, except those the
spec's ``input`` section (``--include``/``--exclude``) or :data:`~augment.spec.DEFAULT_EXCLUDES`
leaves out; each of those is listed, with the pattern that excluded it, in
``excluded-<host>.jsonl`` and counted in the summary (``excluded``): nothing is dropped
unseen.

**Stop.** SIGTERM (what ``StopProcessingJob`` sends) or SIGINT stops submitting work;
in-flight inputs finish and are recorded, the manifest is synced, and the job ends
with :class:`~augment.errors.JobStopped`. A second SIGINT (Ctrl-C) interrupts at once:
the workers are killed, the inputs in flight are abandoned (left for ``--resume``), the
manifest is synced, the summary says ``stopped``, and :class:`KeyboardInterrupt` is
raised with a message that says how to resume.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import hashlib
import itertools
import json
import multiprocessing
import os
import platform
import re
import resource
import shlex
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from multiprocessing import connection as mp_connection
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO

import torch

from augment import __version__, variant
from augment import manifest as mf
from augment.contract import check_host
from augment.cpus import default_workers
from augment.errors import JobFailed, JobStopped, TooManyBadInputs, UsageError
from augment.images import (
    DEFAULT_MAX_PIXELS,
    EXTENSIONS,
    PARTIAL_JPEG,
    atomic_write_bytes,
    list_images,
    read_input,
)
from augment.kernels import NATIVE
from augment.keys import UNSTAGEABLE, apply_filters, excluded_counts, host_share, read_unstaged
from augment.locations import META_DIR, another_spec_message, check_disjoint, create_once
from augment.logs import Log
from augment.manifest import ORIGINAL
from augment.options import check_max_error_rate, check_max_pixels, check_number
from augment.pipeline import Pipeline, derive_seed
from augment.progress import Progress
from augment.spec import Spec, load_spec
from augment.text import all_excluded, plural
from augment.variant import OUT_OF_MEMORY

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MAX_ERROR_RATE = 0.01
"""Default share of inputs that may fail before the job fails: a few corrupt files in
a large bucket are normal, one in a hundred says something is systematically wrong
(a wrong prefix, a format the decoder lacks, a spec that does not fit the images)."""
ORIGINAL_EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp",
                       "TIFF": "tif"}


def output_name(rel_path: str, copy: int, fmt: str) -> str:
    """The output path (relative to the output root) of one (input, copy).

    ``copy`` is :data:`~augment.manifest.ORIGINAL` for a kept original, whose
    ``fmt`` is the input's own (detected) format.
    """
    if copy == ORIGINAL:
        return f"{rel_path}.orig.{ORIGINAL_EXTENSIONS.get(fmt, fmt.lower())}"
    return f"{rel_path}.aug{copy}.{EXTENSIONS[fmt]}"


def versions() -> dict[str, str]:
    """Library versions an output's bytes depend on, and the build of the compiled
    kernels and whether a JPEG's crop can be decoded alone, which change only the
    speed."""
    import PIL
    import torchvision

    return {
        "augment": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "compiled_kernels": NATIVE or "none",  # speed only: the same bytes without them
        "partial_jpeg_decoding": "yes" if PARTIAL_JPEG else "no",  # speed only, likewise
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


@dataclass(frozen=True)
class Wording:
    """How a job's messages name what the user can act on, set by the caller.

    Attributes:
        output: the output location as the user knows it, e.g. the ``s3://`` URI a
            processing job uploads to (default: the output folder); the manifest is
            named under it.
        max_error_rate: what raises the limit on failed inputs.
        resume: how to finish a job that stopped or lost a worker, or ``None`` where a
            job cannot be resumed (a processing job starts with an empty output folder).
    """

    output: str | None = None
    max_error_rate: str = "--max-error-rate"
    resume: str | None = "re-run with --resume to finish"

    def manifest(self, manifest_path: Path) -> str:
        if self.output is None:
            return str(manifest_path)
        return "/".join([self.output.rstrip("/"), META_DIR, manifest_path.name])

    def intact(self, what: str) -> str:
        return f"{what} is intact" + (f": {self.resume}" if self.resume else "")


@dataclass
class Summary:
    """What a job did. Written to ``_augment/summary-<host>.json`` at the start (status
    ``running``) and at the end.

    Attributes:
        status: ``running``, ``completed``, ``failed`` or ``stopped``.
        inputs: files found under the input directory, less the excluded ones.
        excluded: files under the input directory that are not inputs, each listed
            with its reason in ``excluded_list`` (``excluded-<host>.jsonl``).
        include, exclude: the input filters the job chose its inputs by (the spec's
            ``input`` section with ``--include``/``--exclude``); a resume must name the
            same ones.
        input_uri: where the input came from before it was staged into ``input_dir``
            (an ``s3://`` URI or a local folder; set by ``augment run``), or ``None``.
        copies: augmented variants per input.
        written: augmented images recorded as written (this run and earlier ones).
        failed_inputs: inputs with a failed record, each with a reason in the manifest.
        failures_by_reason: ``{reason code: inputs}``.
        resumed_records: records already in the manifest when this run started.
        seconds, images_per_s: wall time of this run, and its augmented images per second.
        peak_worker_rss_mb: the largest resident memory of any worker (MiB).
    """

    host: str
    input_dir: str
    output_dir: str
    spec_digest: str
    workers: int
    hosts: list[str] = field(default_factory=list)
    job_name: str | None = None
    input_uri: str | None = None
    status: str = "running"
    inputs: int = 0
    excluded: int = 0
    copies: int = 0
    written: int = 0
    originals: int = 0
    failed_inputs: int = 0
    failed_records: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    resumed_records: int = 0
    processed_inputs: int = 0
    seconds: float = 0.0
    images_per_s: float = 0.0
    peak_worker_rss_mb: float = 0.0
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    max_pixels: int = DEFAULT_MAX_PIXELS
    manifest: str = ""
    excluded_list: str = ""
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    spec_path: str = ""
    message: str = ""
    versions: dict[str, str] = field(default_factory=versions)

    def line(self) -> str:
        """The one-line summary printed at the end of a job."""
        resumed = f", {plural(self.resumed_records, 'record')} from before" if self.resumed_records else ""
        excluded = f", {plural(self.excluded, 'file')} excluded" if self.excluded else ""
        return (f"augment: {plural(self.inputs, 'input')} x {plural(self.copies, 'copy')} -> "
                f"{plural(self.written, 'output')}, {plural(self.failed_inputs, 'failed input')}{excluded}{resumed}, "
                f"in {self.seconds:.1f} s ({self.images_per_s:.1f} outputs/s)")


# ---------------------------------------------------------------------------
# The work of one input. Runs in a worker process (or in-process for 1 worker).


class _Worker:
    def __init__(self, spec: dict[str, Any], input_dir: str, output_dir: str, max_pixels: int) -> None:
        self.pipeline = Pipeline(spec)
        self.input_dir = Path(input_dir)
        self.output_dir = Path(output_dir)
        self.max_pixels = max_pixels

    def process(self, rel: str, copies: tuple[int, ...]) -> list[dict[str, Any]]:
        """Make the given copies of one input (``ORIGINAL`` for the kept original) and
        return their manifest records. A bad input never raises: its reason goes
        into the records."""
        records: list[dict[str, Any]] = []
        spec_seed = self.pipeline.spec.seed
        # augmented copies first: an input that cannot be decoded is not kept either
        for v in variant.make(self.pipeline, lambda: read_input(self.input_dir, rel), rel, copies,
                              max_pixels=self.max_pixels):
            base = {"source": rel, "source_sha256": v.source_sha256}
            if not v.ok:
                records.append(_failed(base, spec_seed, v.copy, v.error, v.reason))  # type: ignore[arg-type]
                continue
            assert v.data is not None and v.format is not None
            name = output_name(rel, v.copy, v.format)
            try:
                atomic_write_bytes(self.output_dir / name, v.data)
            except OSError as e:
                records.append(_failed(base, spec_seed, v.copy, f"cannot write: {e}", "write_failed"))
                continue
            except MemoryError:
                records.append(_failed(base, spec_seed, v.copy, OUT_OF_MEMORY, "out_of_memory"))
                continue
            records.append({
                **base, "copy": v.copy, "output": name, "output_sha256": v.output_sha256,
                "seed": v.seed, "params": v.params, "status": "ok", "error": None, "reason": None,
                "format": v.format.lower(), "size": v.size,
            })  # fmt: skip
        return records


def _failed(base: dict[str, Any], spec_seed: int, copy: int, error: str, reason: str) -> dict[str, Any]:
    seed = None if copy == ORIGINAL else derive_seed(spec_seed, base["source"], copy)
    return {**base, "copy": copy, "output": None, "output_sha256": None, "seed": seed, "params": None,
            "status": "failed", "error": error, "reason": reason}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


_WORKER: _Worker | None = None


def _init_worker(spec: dict[str, Any], input_dir: str, output_dir: str, max_pixels: int) -> None:
    global _WORKER
    # The parent coordinates a stop: workers finish their image instead of dying mid-write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(1)
    _WORKER = _Worker(spec, input_dir, output_dir, max_pixels)


Task = tuple[str, tuple[int, ...]]
Result = tuple[list[dict[str, Any]], float]


_CURRENT: Any = None
"""In a worker process: a shared integer, the index in its running task of the input it
is on (-1 between tasks), so that the parent can tell which input a worker died on."""


def _work(chunk: list[Task]) -> list[Result]:
    assert _WORKER is not None
    results = []
    for i, (rel, copies) in enumerate(chunk):
        if _CURRENT is not None:
            _CURRENT.value = i
        results.append((_WORKER.process(rel, copies), _peak_rss_mb()))
    if _CURRENT is not None:
        _CURRENT.value = -1
    return results


MAX_CHUNK = 16
"""The most inputs in one pool task."""


def chunk_size(remaining: int, workers: int) -> int:
    """Inputs in the next pool task: a share of the inputs not yet handed out (guided
    self-scheduling). While much is left, tasks of up to :data:`MAX_CHUNK` inputs spread
    the send/pickle/wake-up cost of a task (in the parent, which shares the CPUs with
    the workers) over many images; the last tasks are single inputs, so no worker idles
    at the end while another finishes a long one."""
    return max(1, min(MAX_CHUNK, remaining // (workers * 4)))


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGKILL this worker when its parent dies (Linux's
    ``PR_SET_PDEATHSIG``), so that a parent killed alone (SIGKILL, the OOM killer) leaves
    no worker writing outputs that nothing records. Elsewhere a worker ends when its
    pipe from the parent reaches end-of-file.

    Args:
        parent_pid: the parent's pid where this worker is its child, to catch a parent
            that died before the signal was set (``None`` where the parent is a fork
            server, which itself ends with the job's process).
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: the pipe's end-of-file does it
        return
    if parent_pid is not None and os.getppid() != parent_pid:  # died before the signal was set
        os._exit(1)


def _serve(conn: Connection, cancelled: Any, args: tuple[Any, ...], others: tuple[Connection, ...] = (),
           parent_pid: int | None = None, current: Any = None) -> None:
    """A worker process: tasks in from ``conn``, their results out, until None or the
    parent's end closes. A task taken after a stop (``cancelled``) is sent back undone.

    ``others``: the parent's ends of the pipes, which a forked worker inherits; they are
    closed first, or else no worker would see end-of-file when the parent dies (each
    would hold the parent's end of its own pipe and the others').
    """
    global _CURRENT
    for end in others:
        end.close()
    _die_with_parent(parent_pid)
    _CURRENT = current
    _init_worker(*args)
    try:
        while (chunk := conn.recv()) is not None:
            if cancelled.is_set():
                conn.send(("undone", None))  # left for --resume
                continue
            try:
                conn.send(("done", _work(chunk)))
            except Exception as e:  # a bug, not a bad input (those are records): the parent raises it
                try:
                    conn.send(("raised", e))
                except Exception:  # an exception that does not pickle
                    conn.send(("raised", RuntimeError(f"{type(e).__name__}: {e}")))
    except (EOFError, OSError):  # the parent is gone, or gave up on the job
        pass


class _WithoutMain(threading.local):
    active = False


_WITHOUT_MAIN = _WithoutMain()


def _install_preparation_without_main() -> None:
    """Start workers without the caller's ``__main__``.

    A ``spawn`` or ``forkserver`` child first re-runs the parent's main script (or
    module) so that what the parent defined there can be unpickled. A worker needs
    nothing from it: its target is :func:`_serve` and its arguments are plain data. And
    re-running it breaks a plain script without an ``if __name__ == "__main__":`` guard
    (it would call ``run_job`` again inside the worker, which multiprocessing refuses,
    and the worker dies) and ``python -`` (there is no file to re-run). So, while this
    thread starts a worker, the preparation data that multiprocessing sends the child
    leaves the main module out. Other threads, and other process starts, are untouched.
    """
    from multiprocessing import spawn

    current = spawn.get_preparation_data
    if getattr(current, "_augment_without_main", False):
        return

    def get_preparation_data(name: str) -> dict[str, Any]:
        data = current(name)
        if _WITHOUT_MAIN.active:
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
        return data

    get_preparation_data._augment_without_main = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data


def _run_in_pool(args: tuple[Any, ...], tasks: list[Task], workers: int, stop: _Stop,
                 start_method: str) -> Iterator[Result]:
    """Run ``tasks`` on ``workers`` processes, yielding results as they come.

    Each worker has a pipe, and two tasks in flight: one running, one queued, so it
    never waits on the parent between tasks, and memory stays bounded. The parent runs
    no threads: it waits on the pipes and the processes. A worker gets its first tasks
    as soon as it is started, so it works while the parent starts the next one (a fork
    of the CLI takes about 11 ms). On a stop, no task is sent; queued ones come back
    undone, left for ``--resume``; running ones finish and are recorded.

    A worker that dies on an input (killed for memory, say) gets that input recorded as
    failed (``out_of_memory`` when SIGKILLed, else ``worker_died``), so that no resume
    repeats the death; a new worker takes over its other tasks, and the job goes on.

    Raises:
        BrokenProcessPool: a worker died between inputs (not for an input's sake).
    """
    if not tasks:
        return
    ctx = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(["augment.engine"])
    _install_preparation_without_main()
    cancelled = ctx.Event()
    todo = iter(tasks)
    redo: collections.deque[Task] = collections.deque()  # the tasks of a worker that died, first
    remaining = len(tasks)
    in_flight: dict[Connection, int] = {}
    processes: dict[Connection, Any] = {}
    sent: dict[Connection, collections.deque[list[Task]]] = {}  # its tasks in flight, oldest (running) first
    current: dict[Connection, Any] = {}  # the input its running task is on (see _CURRENT)
    released: set[Connection] = set()
    spec_seed = args[0].get("seed", 0)
    unattributed = 0  # workers that died between inputs

    def send_task(conn: Connection) -> None:
        nonlocal remaining
        if stop.signum:
            return
        size = chunk_size(remaining, workers)
        chunk = [redo.popleft() for _ in range(min(size, len(redo)))]
        chunk += itertools.islice(todo, size - len(chunk))
        if chunk:
            remaining -= len(chunk)
            try:
                conn.send(chunk)
            except OSError:  # the worker is gone
                raise BrokenProcessPool(f"worker {processes[conn].pid} ended with work in flight") from None
            in_flight[conn] += 1
            sent[conn].append(chunk)

    def start_worker() -> None:
        ours, theirs = ctx.Pipe()
        # A forked worker shares the parent's memory, and so its open pipe ends: it
        # closes them (a spawned or fork-server worker gets only its own end).
        others = (*processes, ours) if start_method == "fork" else ()
        parent_pid = None if start_method == "forkserver" else os.getpid()
        at = ctx.RawValue("i", -1)
        process = ctx.Process(target=_serve, args=(theirs, cancelled, args, others, parent_pid, at), daemon=True)
        _WITHOUT_MAIN.active = True
        try:
            process.start()
        finally:
            _WITHOUT_MAIN.active = False
        theirs.close()
        processes[ours], in_flight[ours], sent[ours], current[ours] = process, 0, collections.deque(), at
        send_task(ours)
        send_task(ours)

    def died(conn: Connection) -> list[dict[str, Any]]:
        """A worker ended with work in flight: the input it was on is recorded as failed
        (resuming would only repeat the death), its other tasks go to a new worker."""
        nonlocal remaining, unattributed
        process = processes.pop(conn)
        process.join()
        chunks, at = sent.pop(conn), current.pop(conn).value
        del in_flight[conn]
        conn.close()
        if not 0 <= at < len(chunks[0]):  # between inputs: its tasks go to a new worker, a few times
            unattributed += 1
            if unattributed > workers:  # dying on no input: a bug, not a bad input
                raise BrokenProcessPool(f"worker {process.pid} ended with work in flight "
                                        f"(exit code {process.exitcode})")
            redo.extendleft(reversed([task for chunk in chunks for task in chunk]))
            remaining += sum(map(len, chunks))
            start_worker()
            return []
        rel, copies = chunks[0][at]
        killed = process.exitcode == -signal.SIGKILL  # what the kernel's OOM killer sends
        error = ("the worker processing this input was killed (SIGKILL: out of memory?); give the job more "
                 "memory (or fewer --workers), or lower --max-pixels" if killed
                 else f"the worker processing this input ended (exit code {process.exitcode})")
        others = [task for i, task in enumerate(chunks[0]) if i != at]
        others += [task for chunk in list(chunks)[1:] for task in chunk]
        redo.extendleft(reversed(others))  # done ones are made again: the same bytes
        remaining += len(others)
        start_worker()
        base = {"source": rel, "source_sha256": None}
        return [_failed(base, spec_seed, k, error, "out_of_memory" if killed else "worker_died") for k in copies]

    finished = False
    try:
        for _ in range(workers):
            start_worker()
        while any(in_flight.values()):
            if stop.signum:
                cancelled.set()
            busy = [conn for conn, n in in_flight.items() if n]
            sentinels = {processes[conn].sentinel: conn for conn in busy}
            for ready in mp_connection.wait(busy + list(sentinels)):
                conn = sentinels.get(ready, ready)
                if conn not in processes or not in_flight[conn]:  # handled already in this round
                    continue
                try:
                    if not conn.poll():  # a worker ended, its pipe empty
                        raise EOFError
                    kind, value = conn.recv()
                except (EOFError, OSError):  # OSError: ended with our task unread (a reset)
                    if failed := died(conn):
                        yield failed, 0.0
                    continue
                in_flight[conn] -= 1
                sent[conn].popleft()
                if kind == "raised":
                    raise value
                send_task(conn)
                if not in_flight[conn]:  # nothing left for it: it exits while the others finish
                    with contextlib.suppress(OSError):
                        conn.send(None)
                    released.add(conn)
                if kind == "done":
                    yield from value
        finished = True
    finally:
        for conn, process in processes.items():
            with contextlib.suppress(OSError):
                if finished and conn not in released:
                    conn.send(None)
                elif not finished and process.is_alive():
                    process.kill()  # workers ignore SIGTERM: the parent coordinates stops
                conn.close()
        for process in processes.values():
            process.join()


def _run_in_process(args: tuple[Any, ...], tasks: list[Task], stop: _Stop) -> Iterator[Result]:
    worker = _Worker(*args)  # Pipeline.apply runs on one thread, as in a worker process
    for task in tasks:
        if stop.signum:
            return
        yield worker.process(*task), _peak_rss_mb()


class _Stop:
    """Records the first SIGTERM/SIGINT; a second SIGINT interrupts at once (raises
    KeyboardInterrupt), and later ones are ignored while the job records that."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.interrupted = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT and not self.interrupted:
            self.interrupted = True  # a third one must not cut short the manifest's sync and the summary
            raise KeyboardInterrupt
        self.signum = self.signum or signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------------------


def _check_dirs(input_dir: Path, output_dir: Path) -> None:
    if not input_dir.is_dir():
        raise UsageError(f"--input-dir {input_dir}: not a directory"
                         + ("; process reads a folder: to read s3:// objects, launch a job with augment run --input"
                            if "s3:" in str(input_dir).lower() else ""))
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"--output-dir {output_dir}: not a directory (a file is there); name a folder to write "
                         "the outputs into (it is created if missing)")
    check_disjoint(str(input_dir), str(output_dir), input_flag="--input-dir", output_flag="--output-dir")


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
                                                  "--output-dir"))


_MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
"""Why a folder cannot be written that lies in the machine, not the request: another
attempt (a new instance) may pass."""


def _cannot_write(output_dir: Path, e: OSError) -> UsageError:
    return UsageError(f"--output-dir {output_dir}: cannot write there ({e.strerror or e}"
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
            "for it to end (then --resume finishes it, if it has to), or use a new --output-dir.")


def _host_job_message(manifest_path: Path) -> str:
    return (f"{manifest_path} exists: this output directory already holds this host's job. "
            "Pass --resume to finish it, or use a new --output-dir.")


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
                         "Finish it with the versions it started with, or start over in a new --output-dir.")


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
        raise UsageError(f"--resume: {summary_path.parent.parent} holds a job started with --input-dir {before}, "
                         f"not {input_dir}; resume it with --input-dir {before}, or start a new job in a new "
                         "--output-dir.")


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
        raise UsageError(f"--resume: {summary_path.parent.parent} holds a job started with {_filters(*old)}, and "
                         f"this resume names {_filters(*new)}; resume it with {_filters(*old)} (the spec's "
                         "input.include/input.exclude, or --include/--exclude), or start a new job in a new "
                         "--output-dir.")


def _filters(include: list[str], exclude: list[str]) -> str:
    flags = [f"--include={shlex.quote(g)}" for g in include] + [f"--exclude={shlex.quote(g)}" for g in exclude]
    return f"the input filters {' '.join(flags)}" if flags else "no input filters"


def _append_failed(summary: Summary, wording: Wording, manifest_path: Path, e: OSError) -> None:
    """The job fails when its records cannot be appended (a full disk): those are lost,
    the earlier ones intact."""
    summary.status = "failed"
    summary.message = (f"cannot append to {wording.manifest(manifest_path)}: {e.strerror or e}; "
                       + wording.intact("everything recorded before"))


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


def run_job(
    spec: Spec | str | dict[str, Any],
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    workers: int | None = None,
    host: str = "local",
    hosts: list[str] | None = None,
    job_name: str | None = None,
    resume: bool = False,
    verify: bool = False,
    retry_failed: bool = False,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: str | None = None,
    progress_interval: float = 10.0,
    log: Log | None = None,
    start_method: str = "forkserver",
    input_uri: str | None = None,
    wording: Wording | None = None,
    unstaged: str | Path | None = None,
    sharded: bool = False,
) -> Summary:
    """Augment every file under ``input_dir`` into ``output_dir``.

    Args:
        spec: a :class:`~augment.spec.Spec`, spec data, a spec file or a preset name.
        input_dir: read recursively; every regular file is an input, except those the
            spec's ``input`` section or :data:`~augment.spec.DEFAULT_EXCLUDES` excludes
            (listed in ``_augment/excluded-<host>.jsonl``).
        output_dir: created if missing.
        workers: worker processes (default: one per CPU); each uses one torch thread.
        host: names this host's manifest and summary, so hosts sharing an output
            prefix never overwrite each other.
        hosts, job_name: recorded in the summary (from the job's config files).
        resume: finish the job this host started in ``output_dir`` (see module docs):
            every (input, copy) without a record, or whose "ok" record's output is
            missing, or whose failure may pass now (a full disk, an unreadable file,
            memory: :data:`~augment.manifest.TRANSIENT_REASONS`) is done (again).
        verify: with ``resume``, also redo outputs whose SHA-256 is not the recorded one.
        retry_failed: with ``resume``, retry every failed record, not only transient ones.
        max_error_rate: the job fails when more than this share of inputs fail.
        max_pixels: inputs larger than this (from the header) are refused unread.
        progress: ``bar``, ``lines``, ``off`` or ``None`` (auto).
        progress_interval: seconds between plain progress lines.
        log: where events go (default: text lines on stderr).
        start_method: how worker processes start. ``forkserver`` (the default) is safe
            from any caller, a notebook that already ran torch in parallel included, and
            a plain script without an ``if __name__ == "__main__":`` guard or ``python -``
            (workers never re-run the caller's main script);
            ``fork`` starts workers in milliseconds instead of re-importing torch, and is
            what the CLI uses, since a fresh ``augment process`` has run nothing in
            parallel before it forks.
        input_uri: where ``input_dir``'s files came from (an ``s3://`` URI or a local
            folder), recorded in the summary so that :func:`~augment.replay.replay`
            finds the inputs after a staging folder is gone.
        wording: how failure messages name the output location and the flags (see
            :class:`Wording`; default: the folders and ``augment process``'s flags).
        unstaged: the file that lists the input's keys that could not be staged as files
            (the ``unstaged`` processing input a launcher adds, see :mod:`augment.keys`):
            this host records its share of them as failed inputs (``unstageable_key``),
            and folder markers as excluded.
        sharded: ``input_dir`` holds this host's share of an input split between the
            hosts (``ShardedByS3Key``): a share with no input in it (more hosts than
            inputs) completes with nothing to do instead of being refused.

    Returns:
        The :class:`Summary`, also written to ``_augment/summary-<host>.json``.

    Raises:
        SpecError: invalid spec (before anything is read).
        UsageError: bad directories or arguments, or an output directory that holds
            another job (before anything is written).
        JobFailed: more inputs failed than ``max_error_rate`` allows (``TooManyBadInputs``), or a worker
            died; everything recorded so far is intact.
        JobStopped: SIGTERM or SIGINT; re-run with ``resume=True`` to finish.
    """
    wording = wording or Wording()
    spec = load_spec(spec)
    Pipeline(spec)  # build once here, so a spec torchvision refuses fails before any work
    log = log or Log()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    _check_dirs(input_dir, output_dir)
    workers = default_workers() if workers is None else check_number("--workers", workers, min=1, integer=True)
    check_number("--progress-interval", progress_interval, above=0)  # nan or inf: no progress line, ever
    check_max_error_rate(max_error_rate)
    check_max_pixels(max_pixels)  # the CLI refuses it too; 0 would refuse every input as too large
    check_host(host, "--host")  # it names files under _augment/: never a path
    meta = output_dir / META_DIR
    manifest_path = meta / f"manifest-{host}.jsonl"
    summary_path = meta / f"summary-{host}.json"
    if (verify or retry_failed) and not resume:
        raise UsageError(f"{'--verify' if verify else '--retry-failed'} checks the work of an earlier run: "
                         "pass it with --resume")
    manifest_size = manifest_path.stat().st_size if manifest_path.exists() else -1
    if resume and input_uri is None:  # a resume run by hand keeps where the inputs came from
        input_uri = _summary_field(summary_path, "input_uri")
    before = _previous_work(spec, meta, manifest_path, summary_path, resume, input_dir, verify, retry_failed)
    tally = before.tally()
    previous = tally.records
    files = list_images(input_dir)
    not_staged, markers = read_unstaged(unstaged) if unstaged is not None else ([], [])
    not_staged, markers = host_share(not_staged, host, hosts or [host]), host_share(markers, host, hosts or [host])
    if not files and not not_staged and not sharded:
        raise UsageError(f"--input-dir {input_dir}: no files found")
    items, excluded = apply_filters(files, spec.input)
    unstageable, left_out = apply_filters([f["source"] for f in not_staged], spec.input)  # junk is junk, staged or not
    excluded += left_out + markers
    if not items and not unstageable and sharded:
        log.event("empty_share", f"this host's share of the input holds no input ({plural(len(files), 'file')} "
                  f"staged, {len(excluded)} excluded): {len(hosts or [])} hosts share it; nothing to do here",
                  host=host)
    elif not items and not unstageable:
        raise UsageError(f"--input-dir {input_dir}: no inputs: "
                         f"{all_excluded(len(files) + len(not_staged))} ({excluded_counts(excluded)}); change the "
                         "spec's input.include/input.exclude "
                         "(--include/--exclude)")

    wanted = tuple(range(spec.copies)) + ((ORIGINAL,) if spec.output.keep_original else ())
    done = before.done
    tasks = [(rel, missing) for rel in items
             if (missing := tuple(k for k in wanted if not done.get(rel, 0) & (1 << (k + 1))))]
    redo = before.redo  # what this run does again, by (input, copy): their new records say why
    before_counts = before.redo_counts()
    why_not_staged = {f["source"]: f for f in not_staged}
    not_staged_records = [
        {**_failed({"source": rel, "source_sha256": None}, spec.seed, k, why_not_staged[rel]["error"],
                   why_not_staged[rel]["reason"]), **({"redone": redo[(rel, k)]} if (rel, k) in redo else {})}
        for rel in unstageable for k in wanted if not done.get(rel, 0) & (1 << (k + 1))]
    del done, before  # from here on memory does not grow with the number of inputs done
    claim = _claim_output(spec, meta, manifest_path, resume, manifest_size)
    # The claim is held until the last summary is written (no other run of this host starts
    # before), and released on every path; the records go through its file.
    with claim as manifest:
        if resume:
            _remove_stale_temps(output_dir)  # a kill can leave them before the first record, too
        excluded_path = meta / f"excluded-{host}.jsonl"
        summary = Summary(host=host, hosts=hosts or [host], job_name=job_name, input_dir=str(input_dir.resolve()),
                          output_dir=str(output_dir.resolve()), spec_digest=spec.digest, workers=workers,
                          inputs=len(items) + len(unstageable), copies=spec.copies, resumed_records=previous,
                          max_error_rate=max_error_rate, max_pixels=max_pixels, manifest=str(manifest_path),
                          spec_path=str(meta / "spec.yaml"), input_uri=input_uri, excluded=len(excluded),
                          excluded_list=str(excluded_path), include=list(spec.input.include),
                          exclude=list(spec.input.exclude))
        try:  # before any output: a full disk here is a clear refusal, and nothing was done
            atomic_write_bytes(excluded_path, mf.json_lines(excluded))  # a name not UTF-8: as in the manifest
            _write_summary(summary, summary_path)
        except OSError as e:
            raise _cannot_write(output_dir, e) from None
        todo = len(tasks) + len({r["source"] for r in not_staged_records})
        log.event("start", f"{plural(summary.inputs, 'input')} x {plural(spec.copies, 'copy')} on "
                  f"{plural(workers, 'worker')}, host {host}; {plural(todo, 'input')} to do"
                  + (f" ({plural(previous, 'record')} from before)" if previous else "")
                  + f" (augment {__version__} from {PACKAGE_DIR})",
                  inputs=summary.inputs, copies=spec.copies, workers=workers, host=host, todo=todo,
                  resumed_records=previous, spec_digest=spec.digest, package=str(PACKAGE_DIR))
        if redo:
            log.event("redo", f"{plural(len(redo), 'recorded output')} to do again ({before_counts}); their new "
                      "records say why (\"redone\")", redo=len(redo), redo_by_reason=dict(Counter(redo.values())))
        if unstageable:
            log.event("unstageable", f"{plural(len(unstageable), 'input')} could not be staged as files (keys such "
                      f"as {unstageable[0]!r}): recorded as failed ({UNSTAGEABLE})", unstageable=len(unstageable))
        if excluded:
            log.event("excluded", f"{plural(len(excluded), 'file')} {'is' if len(excluded) == 1 else 'are'} "
                      f"not inputs ({excluded_counts(excluded)}); "
                      f"listed in {excluded_path}", excluded=len(excluded), excluded_list=str(excluded_path))
        if spec.kernels == "fast" and NATIVE is None:
            log.event("slow_kernels", "augment was installed without its compiled kernels (no C compiler at the "
                      "time): ColorJitter runs torchvision's tensor kernel, which gives the same bytes several times "
                      "slower. Reinstall with a C compiler (gcc or clang) to get them.", level="warning")

        args = (spec.to_dict(), str(input_dir), str(output_dir), max_pixels)
        written_before = tally.written
        bar = Progress(todo, mode=progress, interval=progress_interval,
                       emit=lambda text, fields: log.event("progress", text, **fields))
        start = time.monotonic()
        interrupted = announced = False
        with _Stop() as stop:
            if not_staged_records:  # recorded, never read: there is no file of theirs to read
                try:
                    mf.write_records(manifest, not_staged_records)
                except OSError as e:
                    _append_failed(summary, wording, manifest_path, e)
                    tasks = []
                else:
                    tally.add(not_staged_records)
                    recorded = len({r["source"] for r in not_staged_records})
                    summary.processed_inputs += recorded
                    bar.update(recorded, errors=recorded)
            results = (_run_in_process(args, tasks, stop) if workers == 1
                       else _run_in_pool(args, tasks, workers, stop, start_method))
            try:
                for new, rss in results:
                    if redo:
                        for r in new:
                            if (why := redo.pop((r["source"], r["copy"]), None)) is not None:
                                r["redone"] = why
                    try:
                        mf.write_records(manifest, new)
                    except OSError as e:  # a full disk, say: these records are lost, the earlier ones intact
                        _append_failed(summary, wording, manifest_path, e)
                        results.close()  # stops the workers; their outputs without a record are redone on resume
                        break
                    tally.add(new)
                    summary.processed_inputs += 1
                    summary.peak_worker_rss_mb = max(summary.peak_worker_rss_mb, round(rss, 1))
                    bar.update(errors=int(any(r["status"] != "ok" for r in new)))
                    if stop.signum and not announced:
                        announced = True
                        log.event("stopping", f"{signal.Signals(stop.signum).name}: finishing the inputs in flight "
                                  "(Ctrl-C again interrupts at once)"
                                  + (f"; {wording.resume}" if wording.resume else ""))
            except BrokenProcessPool:
                summary.status = "failed"
                summary.message = ("a worker process died (killed for memory? see the logs); "
                                   + wording.intact(f"everything recorded in {wording.manifest(manifest_path)}"))
            except KeyboardInterrupt:  # a second Ctrl-C: stop now, abandoning the inputs in flight
                interrupted = True
                results.close()  # kills the workers, when the interrupt came between two results
            finally:
                try:
                    mf.sync(manifest)
                except OSError as e:
                    if summary.status != "failed":
                        summary.status = "failed"
                        summary.message = (f"cannot sync {wording.manifest(manifest_path)}: {e.strerror or e}; "
                                           + wording.intact("what it holds"))
                bar.close()
        summary.seconds = round(time.monotonic() - start, 3)
        summary.written, summary.originals = tally.written, tally.originals
        summary.failed_records = tally.failed_records
        summary.failed_inputs, summary.failures_by_reason = tally.failed_inputs, tally.failures_by_reason
        first_failures = tally.first_failures()
        new_images = tally.written - written_before
        summary.images_per_s = round(new_images / summary.seconds, 2) if summary.seconds else 0.0
        rate = summary.failed_inputs / summary.inputs if summary.inputs else 0.0  # a sharded host may get none
        bad_inputs = summary.status == "running" and not stop.signum and not interrupted and rate > max_error_rate
        if interrupted:
            summary.status = "stopped"
            summary.message = (f"interrupted by a second SIGINT after {summary.processed_inputs} of "
                               f"{plural(todo, 'input')}; the inputs in flight were abandoned, "
                               + wording.intact("everything recorded"))
        elif stop.signum and summary.status == "running":
            summary.status = "stopped"
            summary.message = (f"stopped by {signal.Signals(stop.signum).name} after {summary.processed_inputs} of "
                               f"{plural(todo, 'input')}; " + wording.intact("everything recorded"))
        elif summary.status == "running" and rate > max_error_rate:
            summary.status = "failed"
            shown = "; ".join(first_failures) + ("; ..." if summary.failed_inputs > len(first_failures) else "")
            summary.message = (f"{summary.failed_inputs} of {plural(summary.inputs, 'input')} failed ({rate:.1%}), "
                               f"more than {wording.max_error_rate} {max_error_rate:.1%} allows. First: {shown}. "
                               f"Every reason is in {wording.manifest(manifest_path)}; fix or remove those files, "
                               f"or raise {wording.max_error_rate}.")
        elif summary.status == "running":
            summary.status = "completed"
        try:
            _write_summary(summary, summary_path)
        except OSError as e:  # a full disk: the manifest has the outcome, say so rather than raise a traceback
            if summary.status in ("completed", "failed"):
                summary.status = "failed"
                summary.message = (summary.message + "; " if summary.message else "") + (
                    f"cannot write {summary_path.name}: {e.strerror or e}; the manifest has every outcome")
    if interrupted:
        raise KeyboardInterrupt(summary.message)
    if summary.status == "stopped":
        raise JobStopped(summary.message, stop.signum or signal.SIGTERM, summary=summary)
    if summary.status == "failed":
        raise (TooManyBadInputs if bad_inputs else JobFailed)(summary.message, summary=summary)
    return summary


def _write_summary(summary: Summary, path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(asdict(summary), indent=2) + "\n").encode())
