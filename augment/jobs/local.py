"""The local runtime: execute a :class:`~augment.jobs.request.JobRequest` on this machine,
with no AWS account, and with no container engine unless asked to run the job's image.

For each of ``InstanceCount`` simulated hosts (``algo-1``, ``algo-2``...) it lays out an
``/opt/ml`` root of its own, as SageMaker does on each instance:

1. **Inputs are staged** into each ``LocalPath``: ``S3Prefix`` and ``ManifestFile``
   inputs from any S3 endpoint (real S3, or an S3-compatible server named by
   ``AWS_ENDPOINT_URL``), and, for convenience, local folders or files.

   * ``S3Prefix``: every object whose key starts with the prefix; its local path is
     the key after the prefix's last ``/`` (``s3://b/train/`` and key
     ``train/cats/1.jpg`` give ``<LocalPath>/cats/1.jpg``).
   * ``ManifestFile``: a JSON array whose first element is
     ``{"prefix": "s3://bucket/p/"}``, followed by keys relative to it; each lands at
     ``<LocalPath>/<key>``.
   * A key that cannot be staged as a file of its own (``a//b.jpg``, ``../x``, ``c.jpg``
     beside ``c.jpg/x.jpg``: see :mod:`augment.keys`) is refused, naming it: SageMaker
     would stage it onto another object's path. augment's launchers never send one; they
     record such keys as failed inputs. Folder markers (zero-byte keys ending in ``/``)
     are not staged.
   * ``FullyReplicated`` gives every host every object. ``ShardedByS3Key`` sorts the
     objects by key and deals them round-robin: host *i* of *n* gets objects *i*,
     *i + n*, *i + 2n*... The shards are disjoint and their union is the input.
   * ``Pipe`` mode is refused: it needs SageMaker's FIFO channels.

2. **Config files**: ``config/processingjobconfig.json`` (the request) and
   ``config/resourceconfig.json`` (``current_host``, ``hosts``).

3. **The hosts run in parallel**: the entrypoint and arguments as a subprocess with
   ``AUGMENT_OPT_ML`` pointing at the host's root, the request's ``Environment``, and
   ``/opt/ml`` in arguments rewritten to that root. ``python``/``python3``/``augment``
   run from this Python environment (the image is not pulled). Or, with ``engine``, each
   host is a container of the request's image (Docker or podman), with its config,
   inputs and outputs mounted under ``/opt/ml`` as SageMaker mounts them
   (:func:`container_command`), so the exact image is tested before a job is paid for.
   Every log line is streamed with a ``[algo-N]`` prefix.

4. **Outputs are uploaded** at the end, from every host's output ``LocalPath`` to its
   ``S3Uri`` (or a local folder), all hosts into the same prefix, as on SageMaker.

5. The result is shaped like ``DescribeProcessingJob``: status, ``ExitMessage`` and
   ``FailureReason`` from the first failing host's ``/opt/ml/output/message``, and
   timings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from augment import storage
from augment.contract import ROOT_ENV, SAGEMAKER_ROOT
from augment.engines import Engine
from augment.errors import UsageError
from augment.jobs.request import Input, JobRequest
from augment.storage import (  # noqa: F401  (re-exported: augment.jobs.local.s3_client... stay importable)
    ONE_REQUEST,
    TRANSFERS,
    each_concurrently,
    get_file,
    is_local,
    is_s3,
    put_file,
    s3_client,
    split_s3_uri,
)

LOCAL_ACCOUNT = "000000000000"


@dataclass(frozen=True)
class _Object:
    """One thing to stage: where it comes from and its path under the LocalPath."""

    key: str  # sort key (the object's URI, or a local relative path)
    rel: str
    fetch: Callable[[Path], None]


def safe_rel(rel: str, where: str) -> str:
    """``rel`` if it can be staged as a file of its own under a root (see
    :func:`augment.keys.key_problem`: no ``..``, no leading or doubled ``/``...).

    Raises:
        UsageError: naming ``where``, the key and why.
    """
    from augment.keys import key_problem

    why = key_problem(rel)
    if why is not None:
        raise UsageError(f"{where}: {rel!r} cannot be staged as a file of its own ({why}); refused")
    return rel


def _unstageable(where: str, source: str, split: Any) -> UsageError:
    """The refusal of a request whose input holds keys that cannot be staged: SageMaker would
    stage them onto other objects' paths, or drop them. augment's launchers never send one."""
    return UsageError(
        f"{where}: {len(split.failed)} of the objects under {source} cannot be staged as files of their own "
        f"({split.failed_line()}). augment's launchers (augment run, augment.jobs.launch) record such keys as "
        "failed inputs; a request built by hand must leave them out, with a ManifestFile of the others.")


def _input_objects(inp: Input) -> list[_Object]:
    """What ``inp`` stages: a local folder's files, a ManifestFile's keys, or every object
    under an S3 prefix (listed by :func:`augment.keys.list_s3`, through storage's one loop)."""
    from augment.keys import check_uri, input_root, list_s3, split_keys

    source = inp.source
    where = f"input {inp.name!r}"
    check_uri(source, where)
    if inp.data_type == "ManifestFile":
        return _manifest_objects(inp, where)
    if is_local(source):  # staged as the job would see the folder: links and FIFOs stay what they are
        root = Path(source).resolve()  # staged links point into it from elsewhere
        if root.is_file():
            return [_Object(root.name, root.name, lambda dst, f=root: shutil.copyfile(f, dst))]
        if not root.is_dir():
            raise UsageError(f"{where}: {source} is neither an s3:// URI nor a local folder or file")
        from augment.images import list_images

        return [_Object(rel, rel, lambda dst, r=rel: _stage_local(root, r, dst))
                for rel in list_images(root, flag="input")]
    listed = list_s3(source, where)[1]
    split = split_keys(listed)  # folder markers are not staged, as on SageMaker
    if split.failed:
        raise _unstageable(where, source, split)
    sizes, base, store = dict(listed), input_root(source), storage.handler(source)  # one client for them all
    return [_Object(base + rel, rel, partial(store.download, base + rel, size=sizes.get(rel))) for rel in split.staged]


def _stage_local(root: Path, rel: str, dst: Path) -> None:
    """Stage one entry of a local input folder as the job will see it: a regular file
    (or a link to one inside the folder) is copied; anything else stays what it was, never
    read, so the job records it with the reason it would give on the folder itself: a FIFO
    is made again (``not_a_file``), a link or other entry becomes a link to where it
    pointed (a link out of the input is ``outside_input``, not a copy of its target)."""
    src = root / rel
    real = os.path.realpath(src)
    inside = os.path.commonpath([real, os.path.realpath(root)]) == os.path.realpath(root)
    if inside and os.path.isfile(src) and stat.S_ISREG(os.stat(src).st_mode):
        shutil.copyfile(src, dst)
    elif not os.path.islink(src) and stat.S_ISFIFO(os.lstat(src).st_mode):
        os.mkfifo(dst)
    else:
        os.symlink(os.path.join(os.path.dirname(src), os.readlink(src)) if os.path.islink(src) else src, dst)


def _manifest_objects(inp: Input, where: str) -> list[_Object]:
    """The objects a ``ManifestFile`` lists: ``[{"prefix": ...}, "key", ...]``. The manifest
    and its prefix are S3 URIs (or, for the local runtime, local paths); entries of a local
    prefix are staged as :func:`_stage_local` stages a folder's."""
    from augment.keys import check_uri, split_keys

    source = inp.source
    text = storage.read_bytes(source)
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{where}: manifest {source} is not JSON: {e}") from None
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict) \
            or not isinstance(entries[0].get("prefix"), str):
        raise UsageError(f"{where}: manifest {source} must be a JSON array starting with "
                         '{"prefix": "s3://bucket/prefix/"}')
    prefix = entries[0]["prefix"]
    check_uri(prefix, f"{where}: manifest {source} prefix")
    for n, rel in enumerate(entries[1:], 1):
        if not isinstance(rel, str):
            raise UsageError(f"{where}: manifest {source} entry {n} is {json.dumps(rel)}: after the prefix, a "
                             "ManifestFile lists keys, as strings")
    split = split_keys((rel, 1) for rel in entries[1:])
    if split.failed:
        raise _unstageable(where, source, split)
    if is_local(prefix):  # staged as a folder is: links and FIFOs stay what they are
        root = Path(prefix).resolve()
        return [_Object(rel, rel, lambda dst, r=rel: _stage_local(root, r, dst)) for rel in split.staged]
    store = storage.handler(prefix)
    return [_Object(prefix + rel, rel, partial(store.download, prefix + rel)) for rel in split.staged]


def shard(objects: list[Any], index: int, count: int, key: Callable[[Any], str]) -> list[Any]:
    """Host ``index``'s share under ``ShardedByS3Key``: sorted by key, dealt round-robin."""
    return sorted(objects, key=key)[index::count]


def _stage(inp: Input, root: Path, index: int, count: int, objects: list[_Object]) -> int:
    chosen = shard(objects, index, count, key=lambda o: o.key) if inp.distribution == "ShardedByS3Key" else objects
    dest = _host_path(root, inp.destination)
    dest.mkdir(parents=True, exist_ok=True)
    targets = []
    for obj in chosen:  # every path is checked before the first object moves
        target = dest / obj.rel
        if dest.resolve() not in target.resolve().parents:
            raise UsageError(f"input {inp.name!r}: {obj.rel!r} would escape {inp.destination}; refused")
        targets.append(target)
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    each_concurrently([partial(obj.fetch, target) for obj, target in zip(chosen, targets, strict=True)])
    return len(chosen)


def _host_path(root: Path, sagemaker_path: str) -> Path:
    return root / PurePosixPath(sagemaker_path).relative_to(SAGEMAKER_ROOT)


def _command(request: JobRequest, root: Path) -> list[str]:
    bindir = Path(sys.executable).parent
    cmd = []
    for n, part in enumerate([*request.entrypoint, *request.arguments]):
        if n == 0 and part in ("python", "python3"):
            part = sys.executable
        elif n == 0 and part == "augment" and (bindir / "augment").exists():
            part = str(bindir / "augment")
        cmd.append(_rewrite(part, root))
    return cmd


def _rewrite(arg: str, root: Path) -> str:
    """Point ``/opt/ml/...`` (alone or after ``--flag=``) at the host's root."""
    prefix, sep, value = arg.partition("=") if arg.startswith("-") and "=" in arg else ("", "", arg)
    p = PurePosixPath(value)
    if p == SAGEMAKER_ROOT or SAGEMAKER_ROOT in p.parents:
        value = str(root / p.relative_to(SAGEMAKER_ROOT))
    return f"{prefix}{sep}{value}"


def container_name(request: JobRequest, host: str) -> str:
    """The name of ``host``'s container: the job's name and the host's, at most 128 characters."""
    return f"{request.job_name}-{host}"[:128]


def container_command(engine: Engine, request: JobRequest, host: str, root: Path) -> list[str]:
    """The ``run`` that runs one host in the job's real image, as SageMaker lays it out:
    the job's config (read-only), each input at its ``LocalPath`` (read-only: a job that
    writes into its input fails here, not on AWS), each output and ``/opt/ml/output``
    (where the exit message goes), the request's ``Environment`` and nothing of this
    machine's, the image's ``ENTRYPOINT`` replaced by the request's, as SageMaker does.

    The network is the host's (``none`` when the request isolates the job). Where the
    engine runs containers as root but the caller is not root, the container runs as the
    caller, so what it writes stays the caller's to read and remove."""
    root = root.resolve()
    cmd = engine.cmd("run", "--rm", "--name", container_name(request, host), "--hostname", host)
    isolated = bool((request.network or {}).get("EnableNetworkIsolation"))
    cmd += ["--network", "none" if isolated else "host"]
    if os.getuid() != 0 and not engine.rootless:
        cmd += ["--user", f"{os.getuid()}:{os.getgid()}", "-e", "HOME=/tmp"]
    mounts = [("config", False), ("output", True)]
    mounts += [(str(PurePosixPath(i.destination).relative_to(SAGEMAKER_ROOT)), False) for i in request.inputs]
    mounts += [(str(PurePosixPath(o.source).relative_to(SAGEMAKER_ROOT)), True) for o in request.outputs]
    for rel, writable in mounts:  # z: on SELinux hosts, labelled for the container (the staged copies are ours)
        cmd += ["-v", f"{root / rel}:{SAGEMAKER_ROOT / rel}:{'rw' if writable else 'ro'},z"]
    for key, value in sorted(request.environment.items()):
        cmd += ["-e", f"{key}={value}"]
    return [*cmd, "--entrypoint", request.entrypoint[0], request.image_uri, *request.entrypoint[1:],
            *request.arguments]


def check_image(choice: str, image: str) -> Engine:
    """The engine that runs the hosts of a job in ``image``, which must be among its images.

    Raises:
        UsageError: no engine answers, or it does not hold the image (nothing is pulled:
            a local run tests the image built here).
    """
    from augment import engines

    engine = engines.require(choice, f"running the job's hosts in the image {image}")
    if not engine.has_image(image):
        others = [e for e in map(engines.find, engines.ENGINES) if e and e.name != engine.name and e.has_image(image)]
        also = f" ({others[0].name} has it: pass --engine {others[0].name})" if others else ""
        raise UsageError(f"{engine.name} has no image {image!r} here{also}; build it first (`augment image build` "
                         f"prints the names it tags), or pull it (`{engine.name} pull {image}`)")
    return engine


def _stream(pipe: TextIO, prefix: str, out: TextIO, lock: threading.Lock) -> None:
    for line in pipe:
        with lock:
            out.write(f"{prefix} {line if line.endswith(chr(10)) else line + chr(10)}")
            out.flush()


def _upload(request: JobRequest, roots: list[Path]) -> None:
    """Every host's output folders to their ``S3Uri`` (or local folder), all hosts into one."""
    for out in request.outputs:
        files = [(f, f.relative_to(src).as_posix()) for root in roots if (src := _host_path(root, out.source)).is_dir()
                 for f in sorted(src.rglob("*")) if f.is_file()]
        storage.upload_tree(files, out.destination)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_local(request: JobRequest, *, workdir: str | Path | None = None, keep: bool = False,
              log: TextIO | None = None, stop: threading.Event | None = None, engine: str | None = None,
              ) -> dict[str, Any]:
    """Execute a job request on this machine.

    Args:
        request: the job; validated here (local folders allowed where S3 URIs go).
        workdir: where the hosts' ``/opt/ml`` roots go (default: a temporary folder,
            removed afterwards unless ``keep``); a relative one is taken from the
            current folder.
        keep: keep the hosts' roots for inspection.
        log: where the hosts' prefixed log lines go (default: stderr).
        stop: when set, every host gets SIGTERM (as ``StopProcessingJob`` sends) and
            the job ends ``Stopped``.
        engine: run each host in a container of the request's image (``ImageUri``), as
            SageMaker does, with ``auto`` (Docker, else podman), ``docker`` or ``podman``;
            ``None`` (the default) runs each host as a subprocess of this Python
            environment. The image must be among the engine's images (nothing is pulled).

    Returns:
        A ``DescribeProcessingJob``-shaped dict, plus ``LocalRuntime`` with each host's
        root and exit code.

    Raises:
        RequestError: an invalid request (before anything is staged).
        CredentialsError: an ``s3://`` input or output and no AWS credentials (before
            anything is staged); or AWS refused them.
        UsageError: an input that cannot be staged (missing, escaping its root, Pipe).
    """
    request.validate(local=True)
    on_s3 = [i.source for i in request.inputs if is_s3(i.source)]
    on_s3 += [o.destination for o in request.outputs if is_s3(o.destination)]
    if on_s3:  # before anything is staged or run: not at the upload, after the work
        from augment.aws import require_credentials

        require_credentials(on_s3[0])
    runner = None if engine is None else check_image(engine, request.image_uri)
    for inp in request.inputs:
        if inp.mode == "Pipe":
            raise UsageError(f"input {inp.name!r}: S3InputMode Pipe needs SageMaker's FIFO channels; the local "
                             "runtime stages File mode only")
    log = log or sys.stderr
    created = _now()
    # absolute: each host runs in its own root, where a relative path means something else
    base = Path(workdir or tempfile.mkdtemp(prefix="augment-local-")).resolve()
    hosts = [f"algo-{i + 1}" for i in range(request.instance_count)]
    roots = [base / request.job_name / host / "opt" / "ml" for host in hosts]
    description: dict[str, Any] = {
        **request.to_request(),
        "ProcessingJobArn": f"arn:aws:sagemaker:local:{LOCAL_ACCOUNT}:processing-job/{request.job_name}",
        "CreationTime": created,
    }
    try:
        listed = {inp.name: _input_objects(inp) for inp in request.inputs}
        for inp in request.inputs:
            if not listed[inp.name]:  # as SageMaker fails such a job, before any host starts
                raise UsageError(f"input {inp.name!r}: no objects found under {inp.source}")
        config = json.dumps({**request.to_request(), "ProcessingJobArn": description["ProcessingJobArn"]}, indent=2)
        for i, (host, root) in enumerate(zip(hosts, roots, strict=True)):
            (root / "config").mkdir(parents=True, exist_ok=True)
            (root / "output").mkdir(exist_ok=True)
            (root / "config" / "processingjobconfig.json").write_text(config)
            (root / "config" / "resourceconfig.json").write_text(json.dumps(
                {"current_host": host, "hosts": hosts, "network_interface_name": "eth0"}))
            for inp in request.inputs:
                _stage(inp, root, i, len(hosts), listed[inp.name])
            for out in request.outputs:
                _host_path(root, out.source).mkdir(parents=True, exist_ok=True)
        started = _now()
        codes = _run_hosts(request, hosts, roots, log, stop or threading.Event(), runner)
        _upload(request, roots)
        ended = _now()
        results = list(zip(hosts, roots, codes, strict=True))
        host_info = {h: {"root": str(r), "exit_code": c, **_augment_summary(request, h, r)} for h, r, c in results}
        failed = [(h, r, c) for h, r, c in results if c != 0]
        stopped = stop is not None and stop.is_set()
        description.update({
            "ProcessingJobStatus": "Stopped" if stopped else "Failed" if failed else "Completed",
            "ProcessingStartTime": started, "ProcessingEndTime": ended, "LastModifiedTime": ended,
            "LocalRuntime": {"hosts": host_info, "kept": bool(keep or workdir),
                             "engine": None if runner is None else str(runner)},
        })  # fmt: skip
        if failed and not stopped:
            host, root, code = failed[0]
            message_file = root / "output" / "message"
            message = message_file.read_text(encoding="utf-8", errors="replace") if message_file.exists() else ""
            reason = "MaxRuntimeExceeded" if code == -9 else f"AlgorithmError: {message or f'exit code {code}'}"
            if runner is not None and code in ENGINE_FAILURES and not message:
                reason = (f"{runner.name} could not run the container (exit {code}: {ENGINE_FAILURES[code]}); its "
                          f"reason is in the [{host}] lines of the log")
            description["FailureReason"] = f"{reason} (host {host})"
            if message:
                description["ExitMessage"] = message
        return description
    except Exception as e:
        from augment.aws import aws_error

        error = aws_error(e)
        if error is None or error is e:
            raise
        raise error from None
    finally:
        if not (keep or workdir):
            shutil.rmtree(base, ignore_errors=True)


def _augment_summary(request: JobRequest, host: str, root: Path) -> dict[str, Any]:
    """An augment job's summary for this host, when the job is augment's (else nothing)."""
    for out in request.outputs:
        path = _host_path(root, out.source) / "_augment" / f"summary-{host}.json"
        if path.is_file():
            return {"summary": json.loads(path.read_text())}
    return {}


def _run_hosts(request: JobRequest, hosts: list[str], roots: list[Path], log: TextIO,
               stop: threading.Event, engine: Engine | None = None) -> list[int]:
    """Run every host until it ends; return their exit codes (-9: killed at the deadline).

    A stop (or the deadline) reaches each host once it runs: a container is signalled
    through the engine, again while its client lives, since a container that is still
    being created cannot be stopped yet. A stop before any host started starts none."""
    if stop.is_set():
        return [143] * len(hosts)  # StopProcessingJob before the hosts started: nothing runs
    lock = threading.Lock()
    procs: list[subprocess.Popen[str]] = []
    threads = []
    deadline = time.monotonic() + request.max_runtime_s
    signals = _Signals(engine, [container_name(request, host) for host in hosts])
    timed_out: list[bool] = []
    try:
        for host, root in zip(hosts, roots, strict=True):
            if engine is not None:
                cmd, env = container_command(engine, request, host, root), dict(os.environ)
            else:
                cmd = _command(request, root)
                env = {**os.environ, **{k: _rewrite(v, root) for k, v in request.environment.items()},
                       ROOT_ENV: str(root), "PYTHONUNBUFFERED": "1"}
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env=env, cwd=root, errors="replace")
            procs.append(proc)
            t = threading.Thread(target=_stream, args=(proc.stdout, f"[{host}]", log, lock), daemon=True)
            t.start()
            threads.append(t)
        timed_out = [False] * len(procs)
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline and not any(timed_out):
                timed_out = [p.poll() is None for p in procs]
            signals.send(procs, "kill" if any(timed_out) else "stop" if stop.is_set() else None)
            time.sleep(0.05)
    finally:
        if engine is not None and any(p.poll() is None for p in procs):  # interrupted here: leave none running
            signals.send(procs, "kill", wait=True)
        signals.reap()
    for t in threads:
        t.join()
    return [-9 if late else p.returncode for p, late in zip(procs, timed_out, strict=True)]


ENGINE_FAILURES = {125: "the engine failed", 126: "the entrypoint cannot be run", 127: "no such entrypoint"}
"""Exit codes of ``docker run``/``podman run`` that are the engine's, not the job's (when the
job wrote no exit message)."""

STOP_GRACE_S = 30
"""Seconds a container has after SIGTERM before it is killed, as ``StopProcessingJob`` allows."""


class _Signals:
    """SIGTERM (``stop``) or SIGKILL (``kill``) for every host still running: to its process,
    or to its container through the engine (whose client does not always pass a signal on to
    the container's PID 1). A container's signal is sent again, at most once a second, while
    the last one failed and its client still runs: it may not have existed yet."""

    def __init__(self, engine: Engine | None, names: list[str]) -> None:
        self.engine, self.names = engine, names
        self.sent: dict[tuple[int, str], tuple[subprocess.Popen[bytes] | None, float]] = {}

    def send(self, procs: list[subprocess.Popen[str]], how: str | None, wait: bool = False) -> None:
        if how is None:
            return
        for n, proc in enumerate(procs):
            if proc.poll() is not None:
                continue
            last = self.sent.get((n, how))
            if self.engine is None:
                if last is None:
                    proc.terminate() if how == "stop" else proc.kill()
                    self.sent[(n, how)] = (None, time.monotonic())
                continue
            if last is not None and (last[0] is None or last[0].poll() in (None, 0)
                                     or time.monotonic() - last[1] < 1.0):
                continue  # sent, and under way or delivered; or failed less than a second ago
            args = ("stop", "--time", str(STOP_GRACE_S), self.names[n]) if how == "stop" else ("kill", self.names[n])
            # in the background: a stop waits for the container, which the caller watches
            signaller = subprocess.Popen(self.engine.cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.sent[(n, how)] = (signaller, time.monotonic())
            if wait:
                signaller.wait()

    def reap(self) -> None:
        """Wait for the signallers still running (no zombie is left behind)."""
        for signaller, _ in self.sent.values():
            if signaller is not None:
                try:
                    signaller.wait(timeout=STOP_GRACE_S + 10)
                except subprocess.TimeoutExpired:
                    signaller.kill()
