"""The request of one job, built and checked before it is sent: its name, its inputs and
``augment process`` arguments (:func:`build_request`), the spec file it ships
(:func:`shipped_spec`), the spec it will run (:func:`job_spec`), and the input and output
it may use (:func:`check_locations`).

The spec travels with the job: a spec file as a processing input named ``spec``, a
preset by name as an argument. The job writes the canonical spec next to its outputs
(``_augment/spec.yaml``), so every output can be traced to the spec that made it.

Every launch mode is built on these: :mod:`augment.jobs.launch` (standalone, sharded, and
:func:`~augment.jobs.launch.launch` for every mode) and :mod:`augment.jobs.batch` (batched,
prefetch). This module imports neither, so imports run one way: launch -> batch -> here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from augment.errors import UsageError
from augment.jobs.request import Input, JobRequest, Output
from augment.locations import check_disjoint, check_unused_output
from augment.options import apply_overrides, check_number, masks_as_annotations, parse_job_arguments, process_arguments
from augment.spec import Spec, list_presets
from augment.storage import expand, is_s3, write_bytes

MODES = ("standalone", "sharded")
IMAGES_PATH = "/opt/ml/processing/input/images"
SPEC_PATH = "/opt/ml/processing/input/spec"
ANNOTATIONS_PATH = "/opt/ml/processing/input/annotations"
UNSTAGED_PATH = "/opt/ml/processing/input/unstaged"
OUTPUT_PATH = "/opt/ml/processing/output"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/augment-local"
LOCAL_IMAGE = "augment:local"


def job_name(mode: str, seed_text: str) -> str:
    """A unique, valid job name: ``augment-<mode>-<UTC time>-<hash>``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    digest = hashlib.sha256(f"{seed_text}{stamp}".encode("utf-8", "surrogateescape")).hexdigest()[:6]  # any path
    return f"augment-{mode}-{stamp}-{digest}"


def spec_source(spec: str | os.PathLike[str] | dict[str, Any] | Spec) -> str:
    """``spec`` as a job takes it: a preset name or a spec file's path as given; spec data
    (a dict) or a :class:`~augment.spec.Spec` validated and written as its canonical YAML,
    a file of this process's own (see :func:`shipped_spec`), which travels as the job's
    ``spec`` input as any spec file does.

    Raises:
        SpecError: spec data that is not a valid spec.
        UsageError: ``spec`` is none of these forms.
    """
    from augment.spec import dump_spec, load_spec

    if isinstance(spec, (str, os.PathLike)):
        return os.fspath(spec)
    if not isinstance(spec, (dict, Spec)):
        raise UsageError(f"spec={type(spec).__name__}: pass a preset name ({', '.join(list_presets())}), a spec "
                         "file's path, spec data (a dict) or an augment.Spec")
    loaded = load_spec(spec)
    folder = _shipped_specs_folder() / hashlib.sha256(loaded.to_yaml().encode()).hexdigest()[:32]
    return str(dump_spec(loaded, folder / "spec.yaml"))


def build_request(
    spec: str | os.PathLike[str] | dict[str, Any] | Spec,
    input_uri: str,
    output_uri: str,
    *,
    mode: str = "standalone",
    instance_count: int | None = None,
    instance_type: str = "ml.m5.large",
    image_uri: str = LOCAL_IMAGE,
    role_arn: str = LOCAL_ROLE,
    name: str | None = None,
    workers: int | None = None,
    max_runtime_s: int = 86_400,
    extra_arguments: tuple[str, ...] = (),
    copies: int | None = None,
    seed: int | None = None,
    format: str | None = None,  # the name of the spec field and of --format
    quality: int | None = None,
    kernels: str | None = None,
    keep_original: bool | None = None,
    max_pixels: int | None = None,
    max_error_rate: float | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    annotations: str | None = None,
    annotation_format: str | None = None,
    masks: str | None = None,
    volume_gb: int | None = None,
    loaded: Spec | None = None,
) -> JobRequest:
    """The ``CreateProcessingJob`` request that runs ``augment process`` in one launch mode.

    Args:
        spec: a spec file (sent as the ``spec`` input), a preset name (an argument), or
            spec data or a :class:`~augment.spec.Spec` (sent as a spec file: see
            :func:`spec_source`).
        input_uri, output_uri: ``s3://`` URIs, or local folders for the local runtime.
        mode: ``standalone`` or ``sharded``.
        instance_count: instances (standalone: 1; sharded: default 2).
        copies, seed, format, quality, kernels, keep_original: override the spec's
            (``augment process --copies`` ...); ``None`` keeps the spec's.
        max_pixels, max_error_rate: ``augment process``'s limits; ``None`` keeps its defaults.
        include, exclude: glob patterns on the inputs' relative paths, each passed as
            ``--include GLOB`` / ``--exclude GLOB``.
        annotations, annotation_format: the inputs' labels (``augment process
            --annotations``): an ``s3://`` file, ``yolo`` (the input's own tree), or a
            file or folder of this machine, which a job on ``s3://`` inputs takes as its
            ``annotations`` input (the SageMaker backend uploads it beside the spec) and
            the local runtime's hosts on a local input read by its absolute path.
        masks: semantic PNG masks mirroring the inputs' paths: the same as
            ``annotations=masks, annotation_format='masks'`` (``augment process --masks``).
        volume_gb: ``VolumeSizeInGB`` of each instance; ``None``: 30 here, sized from the
            input by :func:`~augment.jobs.launch.ready_request` (and
            :func:`~augment.jobs.launch.launch`).
        loaded: ``spec`` as already read (by :func:`~augment.jobs.launch.launch`), so that
            it is not read again.

    Raises:
        SpecError: the spec is invalid (checked here, before any job exists).
        UsageError: a bad mode, instance count or job option (named by its flag).
    """
    if mode not in MODES:
        raise UsageError(f"mode={mode!r}: must be one of {', '.join(MODES)}")
    spec = spec_source(spec)
    count = instance_count if instance_count is not None else (2 if mode == "sharded" else 1)
    if mode == "standalone" and count != 1:
        raise UsageError(f"instance_count={count}: a standalone job has one instance; use mode=sharded for more")
    if volume_gb is not None:
        from augment.plan._disk import MAX_VOLUME_GB

        check_number("volume_gb", volume_gb, min=1, max=MAX_VOLUME_GB, integer=True)
    annotations, annotation_format = masks_as_annotations({"annotations": annotations, "masks": masks,
                                                           "annotation_format": annotation_format})
    if annotations == "yolo" and count > 1:
        annotations, annotation_format, staged = _yolo_for_hosts(input_uri)
    else:
        annotations, staged = _annotations_for_hosts(annotations, input_uri, image_uri)
    # fail on the laptop, not minutes into a paid job
    options = process_arguments(loaded or spec, copies=copies, seed=seed, format=format, quality=quality,
                                kernels=kernels, keep_original=keep_original, max_pixels=max_pixels,
                                max_error_rate=max_error_rate, include=include, exclude=exclude,
                                annotations=annotations, annotation_format=annotation_format)
    inputs = [Input("images", input_uri, IMAGES_PATH,
                    distribution="ShardedByS3Key" if mode == "sharded" else "FullyReplicated")]
    arguments: list[str] = ["--progress", "lines"]
    if Path(spec).is_file():
        inputs.append(Input("spec", shipped_spec(spec), SPEC_PATH))
    elif spec in list_presets():
        arguments += ["--spec", spec]
    inputs += staged
    if workers is not None:
        arguments += ["--workers", str(workers)]
    # the summary records where the images came from, so replay finds them once the staged copy is gone
    source = input_uri if is_s3(input_uri) else str(Path(input_uri).resolve())
    if len(source) <= 256:  # SageMaker's limit for one argument; replay then needs --input-dir
        arguments += ["--input-uri", source]
    return JobRequest(
        job_name=name or job_name(mode, f"{spec}{input_uri}{output_uri}"),
        image_uri=image_uri,
        role_arn=role_arn,
        entrypoint=("augment", "process"),
        arguments=(*arguments, *options, *extra_arguments),
        inputs=tuple(inputs),
        outputs=(Output("output", OUTPUT_PATH, output_uri),),
        instance_count=count,
        instance_type=instance_type,
        volume_gb=volume_gb or JobRequest.volume_gb,
        max_runtime_s=max_runtime_s,
        tags=({"Key": "augment:mode", "Value": mode},),
    )


def _yolo_for_hosts(input_uri: str) -> tuple[str, str, list[Input]]:
    """The annotations of a sharded job of a YOLO tree: ``ShardedByS3Key`` deals the tree's
    files to the instances apart, so an image's label file or the ``data.yaml`` may reach
    another instance than the image. Every instance gets the tree again as the job's
    ``annotations`` input, ``FullyReplicated`` at :data:`ANNOTATIONS_PATH`, and reads the
    labels there (the label files in its share of the images stay excluded, as the tree's
    own). Here the input is the whole tree; :func:`yolo_labels_only` narrows it to the
    tree's own files once the input is listed (what :func:`~augment.jobs.launch.launch` does).

    Returns:
        ``annotations`` and ``annotation_format`` as the hosts take them, and the input.
    """
    return ANNOTATIONS_PATH, "yolo", [Input("annotations", input_uri, ANNOTATIONS_PATH)]


def replicated_tree(request: JobRequest) -> Input | None:
    """The input that replicates a sharded job's YOLO tree to every instance (see
    :func:`_yolo_for_hosts`), before :func:`yolo_labels_only` narrowed it; else ``None``."""
    images = next((i for i in request.inputs if i.name == "images"), None)
    return next((i for i in request.inputs if images is not None and i.name == "annotations"
                 and i.source == images.source and i.data_type == "S3Prefix"), None)


def yolo_labels_only(request: JobRequest, staged: Sequence[str], where: str) -> tuple[JobRequest, list[str]]:
    """``request`` with the replicated YOLO tree of a sharded job (see :func:`_yolo_for_hosts`)
    narrowed to the tree's own files among its keys ``staged`` (its label files and the
    dataset YAML): a ``ManifestFile`` of them, written under ``where`` (a prefix or folder
    of the output), so that no instance downloads every image again.

    A tree with no label file and no YAML has nothing to replicate: its hosts read their
    own share as the tree (``annotations="yolo"``), every image without objects.

    Returns:
        The request, and the files written (remove them if the job is never created).
    """
    from augment.keys import input_root
    from augment.labels.yolo import own_file
    from augment.storage import join

    tree = replicated_tree(request)
    if tree is None:
        return request, []
    own = [k for k in staged if own_file(k)]
    if not own:
        arguments = tuple("yolo" if a == ANNOTATIONS_PATH else a for a in request.arguments)
        return request.with_changes(inputs=tuple(i for i in request.inputs if i is not tree),
                                    arguments=arguments), []
    manifest = join(where, "annotations.manifest.json")
    root = tree.source if is_s3(tree.source) else str(Path(tree.source).resolve())
    put_json(manifest, [{"prefix": input_root(root)}, *own])
    inputs = tuple(replace(i, source=manifest, data_type="ManifestFile") if i is tree else i for i in request.inputs)
    return request.with_changes(inputs=inputs), [manifest]


def _annotations_for_hosts(annotations: str | None, input_uri: str, image_uri: str
                           ) -> tuple[str | None, list[Input]]:
    """``annotations`` as the job's hosts will find it, and the input that stages it there
    where one does: an ``s3://`` URI or ``yolo`` as given; a file or folder of this
    machine by its absolute path where the hosts are the local runtime's processes on a
    local input (each in a folder of its own, they read it as it is); else staged as the
    job's ``annotations`` input, at :data:`ANNOTATIONS_PATH` (a job on ``s3://`` inputs
    runs elsewhere: the SageMaker backend uploads the file next to the spec).

    Raises:
        UsageError: a local path that does not exist, or one that containers on a local
            input cannot reach (they see only their inputs).
    """
    if annotations is None or annotations == "yolo" or is_s3(annotations):
        return annotations, []
    try:
        path = Path(expand(annotations)).resolve()
        found = path.exists()
    except OSError as e:  # a name too long, a loop of links...
        raise UsageError(f"annotations={annotations}: {e.strerror or e}") from None
    if not found:
        raise UsageError(f"annotations={annotations}: no such file or folder")
    if is_s3(input_uri):
        where = f"{ANNOTATIONS_PATH}/{path.name}" if path.is_file() else ANNOTATIONS_PATH
        return where, [Input("annotations", str(path), ANNOTATIONS_PATH)]
    if image_uri != LOCAL_IMAGE:
        raise UsageError(f"annotations={annotations}: a job whose hosts are containers ({image_uri}) sees only its "
                         "inputs, not this machine's files; run it without image_uri= (its hosts are processes "
                         "here), or name an s3:// file")
    return str(path), []


SPEC_NAMES = (".yaml", ".yml", ".json")
"""The names a job's host takes its spec input by (see :meth:`augment.contract.JobContext.spec_path`)."""


def shipped_spec(path: str) -> str:
    """The file that carries the spec file ``path`` to the job, under a name its host takes.

    ``path`` itself (absolute) when its name ends in ``.yaml``, ``.yml`` or ``.json`` and is
    plain text; otherwise a copy of its bytes named ``spec.yaml``, in a folder of this
    machine's temporary files named by their digest. A spec named ``my.spec`` or
    ``spec.YAML`` passes :func:`~augment.spec.load_spec` (which reads any name but
    ``*.json`` as YAML, as the copy's name says), and its host refused it after the
    start-up was paid. The copies live in one folder of this process's, removed when it
    exits (after the jobs it submitted took their spec): none is left in the temporary folder.
    """
    from augment.files import write_output

    source = Path(path).resolve()
    name = source.name
    try:
        if source.suffix in SPEC_NAMES and name.isprintable() and name.encode("utf-8"):
            return str(source)
    except UnicodeEncodeError:  # bytes of no encoding in the name (os.fsdecode's surrogates): no S3 key holds them
        pass
    data = source.read_bytes()
    folder = _shipped_specs_folder() / hashlib.sha256(data).hexdigest()[:32]
    return str(write_output(folder / "spec.yaml", data))


_SHIPPED_SPECS: list[Path] = []


def _shipped_specs_folder() -> Path:
    """This process's own folder for :func:`shipped_spec`'s copies, removed when it exits."""
    if not _SHIPPED_SPECS:
        import atexit
        import shutil
        import tempfile

        folder, pid = Path(tempfile.mkdtemp(prefix="augment-specs-")), os.getpid()
        atexit.register(lambda: os.getpid() == pid and shutil.rmtree(folder, ignore_errors=True))  # not a fork's
        _SHIPPED_SPECS.append(folder)
    return _SHIPPED_SPECS[0]


def job_spec(spec: str, arguments: tuple[str, ...] | list[str] = ()) -> Spec:
    """The spec a job runs: ``spec`` with the job options among ``augment process``'s
    ``arguments`` applied (``--seed``, ``--copies``, ``--keep-original``...), parsed and
    applied as the job itself parses and applies them.

    Raises:
        UsageError: an option the job would refuse, named by its flag.
    """
    return apply_overrides(spec, parse_job_arguments(arguments))


def put_json(uri: str, data: Any) -> None:
    """Write ``data`` as JSON to an ``s3://`` URI or a local file (whole or not at all, see
    :func:`augment.storage.write_bytes`)."""
    import json

    write_bytes(uri, json.dumps(data, indent=1, allow_nan=False).encode())



def reads_s3_only(backend: Any) -> bool:
    """Whether ``backend``'s jobs read and write S3 alone (SageMaker's do; the local
    runtime's also take local folders): its ``reads_s3_only`` (see
    :class:`~augment.jobs.backend.Backend`)."""
    return bool(getattr(backend, "reads_s3_only", getattr(backend, "name", None) == "sagemaker"))


def check_s3_locations(input_uri: str, output_uri: str) -> None:
    """Refuse a local input or output for jobs that read and write S3 alone, saying what
    to do instead, before anything is asked of AWS.

    Raises:
        UsageError: naming ``--input`` or ``--output``.
    """
    from augment.keys import check_uri

    check_uri(input_uri, "input")  # S3://, https://... get the s3:// form, not advice about folders
    check_uri(output_uri, "output")
    if not is_s3(input_uri):
        raise UsageError(f"input={input_uri}: SageMaker jobs read their input from S3; upload it first "
                         f"(aws s3 sync {input_uri} s3://BUCKET/PREFIX/) and pass that URI, or run the job here "
                         "with backend=local")
    if not is_s3(output_uri):
        raise UsageError(f"output={output_uri}: SageMaker jobs write their outputs to S3; pass an s3:// prefix "
                         "(aws s3 sync copies them here afterwards), or run the job here with backend=local")


def check_locations(spec: str, input_uri: str, output_uri: str, arguments: tuple[str, ...] | list[str] = (), *,
                    s3_only: bool = False) -> None:
    """What a launch's input and output must satisfy before any request is sent, as
    ``augment process`` requires of its folders (see :mod:`augment.locations`): each is an
    ``s3://`` URI (with ``s3_only``, as SageMaker's jobs need) or a local path, the output
    neither contains the input nor lies inside it, and it holds no earlier job.

    Raises:
        UsageError: naming ``--input``/``--output``, with ``process``'s message for a
            folder of another spec; nothing was sent.
    """
    from augment.keys import check_uri

    check_uri(input_uri, "input")
    check_uri(output_uri, "output")
    if s3_only:
        check_s3_locations(input_uri, output_uri)
    check_disjoint(input_uri, output_uri)
    check_unused_output(job_spec(spec, arguments), output_uri)
