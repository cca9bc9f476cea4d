"""The worker processes: tasks handed out and results gathered, a worker that dies on an
input recorded and replaced, workers that die with their parent, and a stop (SIGTERM,
Ctrl-C) the parent coordinates.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import connection as mp_connection
from multiprocessing.connection import Connection
from typing import Any

from augment.engine.worker import Result, Task, _failed, _init_worker, _peak_rss_mb, _work, _Worker

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
           parent_pid: int | None = None, current: Any = None, environ: dict[str, str] | None = None) -> None:
    """A worker process: tasks in from ``conn``, their results out, until None or the
    parent's end closes. A task taken after a stop (``cancelled``) is sent back undone.

    ``others``: the parent's ends of the pipes, which a forked worker inherits; they are
    closed first, or else no worker would see end-of-file when the parent dies (each
    would hold the parent's end of its own pipe and the others').

    ``environ``: the job's caller's environment, as it is when the worker starts. A
    fork-server worker is forked from the server, whose environment is its caller's when
    the first job of the process started it: a notebook that set ``AWS_PROFILE`` or
    ``AWS_ENDPOINT_URL`` since would have workers reading S3 (a Ground Truth mask) as
    before. A forked worker has it already (``None``).
    """
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    for end in others:
        end.close()
    _die_with_parent(parent_pid)
    _init_worker(*args, current=current)
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
        environ = None if start_method == "fork" else dict(os.environ)
        process = ctx.Process(target=_serve, args=(theirs, cancelled, args, others, parent_pid, at, environ),
                              daemon=True)
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
        rel, copies = chunks[0][at][:2]
        killed = process.exitcode == -signal.SIGKILL  # what the kernel's OOM killer sends
        error = ("the worker processing this input was killed (SIGKILL: out of memory?); give the job more "
                 "memory (or fewer workers=), or lower max_pixels=" if killed
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


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """While a job runs, the objects alive when it starts (an annotations index above all:
    a million images' are tens of millions of objects; torch's own are a few hundred
    thousand) are out of the cyclic collector's reach (``gc.freeze``), and put back after.
    Else a full collection, which a labelled job's allocations bring on, walks all of them
    (a tenth of a second for torch's alone, on a job of half a second), and in a forked
    worker writes to every page that holds one: copy on write would copy the index into
    each worker. Reference counting still frees what is dropped meanwhile; only a cycle
    among those objects waits for the job's end. A caller that froze the heap itself keeps
    it frozen."""
    mine = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if mine:
            gc.unfreeze()


def _run_in_process(args: tuple[Any, ...], tasks: list[Task], stop: _Stop) -> Iterator[Result]:
    worker = _Worker(*args)  # Pipeline.apply runs on one thread, as in a worker process
    # a labelled job's inputs go a few at a time, their pixels and then their labels (see
    # _Worker.process_batch); each few make about BATCH_OUTPUTS outputs, so that records
    # still come every few dozen outputs
    todo = iter(tasks)
    while not stop.signum and (batch := _batch(todo, BATCH_OUTPUTS if worker.writer is not None else 0)):
        for records in worker.process_batch(batch, stopped=lambda: bool(stop.signum)):
            yield records, _peak_rss_mb()


BATCH_OUTPUTS = 64
"""About how many outputs a job run in its own process makes before their labels (a labelled job)."""


def _batch(tasks: Iterator[Task], outputs: int) -> list[Task]:
    """The next tasks of ``tasks``: one, and more while they make fewer than ``outputs`` outputs in all."""
    batch: list[Task] = []
    made = 0
    for task in tasks:
        batch.append(task)
        made += len(task[1])
        if made >= outputs:
            break
    return batch


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
