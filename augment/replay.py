"""Re-create one output of a job from its manifest record, bit-exactly.

A record is chosen by its input and copy (``source``, ``copy``), which name the same
output in every run, or by its line number in the manifest, which follows the order
workers finished in and so differs between runs.

The input is read from ``--input-dir`` when given, else from the job's ``input_dir``
(in its summary) while that folder exists, else from where ``augment run`` staged it
from (the summary's ``input_uri``: a local folder, an ``s3://`` prefix, or a batch's
``ManifestFile``).

The manifest itself may be a local file or an ``s3://`` object (as a job's output
prefix holds it): its summary and spec are read beside it, from S3 too, through
:mod:`augment.storage` (``AWS_ENDPOINT_URL`` is honoured).

A labelled job's output is re-created with its labels: the annotations its summary names
(or ``annotations=`` where that file is not reachable from here; a YOLO tree is read where
the input is, by the same fallback as the pixels) give the input's labels,
:func:`augment.variant.make` moves them with the very parameters drawn for the pixels,
and the label files the job wrote for that output (its YOLO ``.txt``, VOC XML or mask in
the output folder, and its COCO / Ground Truth line in its host's label journal,
``_augment/label-lines-<host>.txt``) are compared byte for byte with the ones the replay
makes, as are the record's ``labels`` counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augment import storage, variant
from augment.errors import UsageError
from augment.locations import META_DIR
from augment.manifest import ORIGINAL, iter_manifest
from augment.pipeline import Pipeline, derive_seed
from augment.spec import Spec, load_spec


@dataclass
class ReplayResult:
    """Outcome of :func:`replay`.

    Attributes:
        record: the manifest record replayed.
        out: where the re-created image was written.
        sha256: SHA-256 of the re-created bytes.
        bit_exact: the bytes equal the original output's (by recorded SHA-256).
        params_match: torchvision drew the same parameters as recorded.
        line: the record's line number in the manifest, from 1.
        spec_digest: the digest of the spec replayed with.
        job_spec_digest: the digest of the job's spec (from its summary), or ``None``
            when the summary is missing.
        labels: the output's labels as re-created (a labelled job only).
        label_files: the output's label files as re-created, by their path relative to
            the job's output folder (a labelled job only).
        label_mismatches: each way the re-created labels differ from what the job wrote
            for this output (a file that differs or is missing, naming it; the record's
            counts); empty when they match.
        annotations: the annotations the labels were read from (``None``: an unlabelled job).
    """

    record: dict[str, Any]
    out: Path
    sha256: str
    bit_exact: bool
    params_match: bool
    line: int = 0
    spec_digest: str = ""
    job_spec_digest: str | None = None
    labels: Any = field(default=None, repr=False)
    label_files: dict[str, bytes] = field(default_factory=dict, repr=False)
    label_mismatches: list[str] = field(default_factory=list)
    annotations: str | None = None

    @property
    def labels_match(self) -> bool | None:
        """The re-created labels equal the job's for this output (``None``: the job had none)."""
        return None if self.annotations is None else not self.label_mismatches

    @property
    def spec_differs(self) -> bool:
        """The spec replayed with is not the job's (by digest)."""
        return self.job_spec_digest is not None and self.job_spec_digest != self.spec_digest


def replay(
    manifest: str | Path,
    record: int | None = None,
    out: str | Path | None = None,
    *,
    source: str | None = None,
    copy: int = 0,
    input_dir: str | Path | None = None,
    spec: Spec | str | Path | None = None,
    annotations: str | Path | None = None,
    annotation_format: str | None = None,
) -> ReplayResult:
    """Re-create one output of a job from its manifest record.

    Args:
        manifest: a ``manifest-<host>.jsonl``: a file, or an ``s3://bucket/.../_augment/``
            object (read with the summary and spec beside it).
        record: the record's line number in the manifest, from 1; or else
        source: the input's path relative to the job's input root, with
        copy: the copy index (``-1`` for a kept original; default 0).
        out: where to write the re-created image.
        input_dir: the job's input root (default: from the job's summary; see the module).
        spec: the job's spec (default: ``spec.yaml`` beside the manifest).
        annotations: a labelled job's annotations, where the file its summary names
            cannot be read from here (a copy of it; default: the summary's).
        annotation_format: their format (default: the job's, from its summary).

    Raises:
        UsageError: not exactly one of ``record`` and ``source``, no such record, a
            failed record, missing input or spec, a spec whose seed differs from the
            job's, an input whose bytes changed since the job ran, annotations given
            for a job that had none, or a labelled job's annotations that cannot be
            read or no longer fit the input.
    """
    if (record is None) == (source is None):
        raise UsageError("give exactly one of record=N and source=PATH (with copy=C)")
    if out is None:
        raise UsageError("out= is required: where to write the re-created image")
    if not storage.is_local(manifest):  # fetched first; never through Path: it would read "s3:/bucket/..."
        with tempfile.TemporaryDirectory(prefix="augment-replay-") as folder:
            local = _download_job_files(str(manifest), Path(folder), spec is None)
            return _replay(local, str(manifest), record, out, source, copy, input_dir, spec,
                           (annotations, annotation_format))
    return _replay(Path(manifest), str(manifest), record, out, source, copy, input_dir, spec,
                   (annotations, annotation_format))


def _download_job_files(uri: str, folder: Path, with_spec: bool) -> Path:
    """The manifest at ``uri``, and the summary and spec beside it where they exist,
    downloaded into ``folder`` under their own names; the manifest's local path.

    Raises:
        UsageError: no such manifest, bucket, or no permission to read it.
    """
    from augment.aws import bucket_refusal

    bucket, key = storage.split_s3_uri(uri)
    name = key.rsplit("/", 1)[-1]
    if not bucket or not name.endswith(".jsonl"):
        raise UsageError(f"manifest {uri}: give the manifest object itself, s3://bucket/prefix/_augment/"
                         "manifest-<host>.jsonl")
    base = uri[: len(uri) - len(name)]
    store = storage.handler(uri)  # one client for the three
    wanted = [(name, True), (name.replace("manifest-", "summary-").replace(".jsonl", ".json"), False)]
    if with_spec:
        wanted.append(("spec.yaml", False))
    for file, required in wanted:
        try:
            store.download(base + file, folder / file)
        except FileNotFoundError:
            if not required:
                continue
            raise UsageError(f"manifest {base + file}: no such object") from None
        except Exception as e:  # a bucket missing or closed; else no credentials or no endpoint: the CLI says
            refused = bucket_refusal(e, "manifest", base + file, reading=True,
                                     instead="download the job's _augment/ folder and replay the local copy")
            if refused is None:
                raise
            raise refused from None
    return folder / name


def _replay(manifest: Path, shown: str, record: int | None, out: str | Path, source: str | None, copy: int,
            input_dir: str | Path | None, spec: Spec | str | Path | None,
            labelled: tuple[str | Path | None, str | None] = (None, None)) -> ReplayResult:
    """:func:`replay` of a local manifest file; ``shown`` is how messages name it;
    ``labelled``: the ``annotations`` and ``annotation_format`` given."""
    if not manifest.is_file():
        raise UsageError(f"manifest {shown}: no such file")
    line, rec = _find(manifest, record, source, copy, shown)
    name = f"record {line} ({rec['source']}, copy {rec['copy']})"
    if rec["status"] != "ok":
        raise UsageError(f"{name} failed in the job, so there is no output to re-create: {rec['error']}")
    summary_path = manifest.parent / manifest.name.replace("manifest-", "summary-").replace(".jsonl", ".json")
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    if spec is None and not (manifest.parent / "spec.yaml").is_file():
        raise UsageError(f"no spec.yaml beside the manifest {shown}; pass spec= with the job's spec")
    spec = load_spec(spec if spec is not None else manifest.parent / "spec.yaml")
    job_digest = summary.get("spec_digest") if summary else None
    index = _job_annotations(*labelled, summary, input_dir, summary_path)
    data, where = _read_input(rec["source"], input_dir, summary, summary_path)
    if hashlib.sha256(data).hexdigest() != rec["source_sha256"]:
        raise UsageError(f"input {where} changed since the job ran (SHA-256 differs)")
    out = Path(out)
    if rec["copy"] == ORIGINAL and index is None:  # a kept original is the input's own bytes
        _write(out, data)
        return ReplayResult(rec, out, rec["source_sha256"], True, True, line, spec.digest, job_digest)
    if rec["copy"] != ORIGINAL and (seed := derive_seed(spec.seed, rec["source"], rec["copy"])) != rec["seed"]:
        differs = (f"this spec (digest {spec.digest[:12]}) differs from the job's (digest {job_digest[:12]}, in "
                   f"{summary_path.name})" if job_digest and job_digest != spec.digest else "is this the job's spec?")
        raise UsageError(f"{name}: seed {rec['seed']} does not match this spec's seed {spec.seed} (expected "
                         f"{seed}): {differs}; replay with the job's spec (_augment/spec.yaml, the default)")
    obj = None if index is None else _input_labels(index, rec["source"])
    # as the job made it (the input opened as a source), in the format it recorded; the job already accepted
    # this input, so no pixel limit
    made, = variant.make(Pipeline(spec), data, rec["source"], (rec["copy"],), max_pixels=sys.maxsize, outputs=1,
                         fmt=None if rec["copy"] == ORIGINAL else rec["format"], labels=obj)
    if made.reason == "bad_labels":
        raise UsageError(f"{name}: its labels in {index.where} do not fit its input now ({made.error}); replay "
                         "with the job's annotations (annotations=)")
    if made.cause is not None:
        raise made.cause
    assert made.data is not None and made.output_sha256 is not None
    _write(out, made.data)
    digest = made.output_sha256
    params_match = rec["copy"] == ORIGINAL or made.params == rec["params"]
    result = ReplayResult(rec, out, digest, digest == rec["output_sha256"], params_match, line, spec.digest,
                          job_digest)
    if index is not None:
        _check_labels(result, index, made, obj, _output_root(manifest, shown, summary), line, manifest)
    return result


def _job_annotations(annotations: str | Path | None, annotation_format: str | None, summary: dict[str, Any] | None,
                     input_dir: str | Path | None, summary_path: Path) -> Any:
    """The annotations of a labelled job, opened as it opened them (its format, its input
    root), from ``annotations`` or the file its summary names; ``None`` for a job without.

    Raises:
        UsageError: annotations given for a job that had none, or ones that cannot be read.
    """
    from augment.labels.formats import open_annotations

    job = summary.get("labels") if summary else None
    if job is None and annotations is None:
        return None
    if job is None and summary is not None:
        raise UsageError(f"annotations={annotations}: the job had none ({summary_path.name} names no annotations); "
                         "replay it without annotations=")
    where = str(annotations) if annotations is not None else str(job["annotations"])
    root = input_dir if input_dir is not None else job_input(summary) if summary else None
    fmt = annotation_format or (job["format"] if job else None)
    job_root = summary["input_dir"] if summary else root  # Ground Truth's source-refs are relative to the job's
    try:
        return open_annotations(where, format=fmt, input_dir=job_root if fmt == "groundtruth" else root,
                                input_uri=summary.get("input_uri") if summary else None)
    except UsageError as e:
        if annotations is not None:
            raise
        why = str(e).removeprefix(f"annotations={where}: ")
        raise UsageError(f"the job's annotations {where} (in {summary_path.name}) cannot be read here: {why}; pass "
                         "annotations= with a copy of them") from None


def job_input(summary: dict[str, Any]) -> str | None:
    """Where a job's input can be read here, from its summary: the folder it read
    (``input_dir``) while that exists, else the local folder or ``s3://`` prefix it was
    staged from (``input_uri``: a job started by :func:`augment.jobs.launch` read a copy
    that is gone now, and a YOLO tree's labels are in that tree); ``None`` if neither (a
    batch's ``ManifestFile`` is no folder: :func:`_read_input` reads one input through it)."""
    folder, uri = summary.get("input_dir"), summary.get("input_uri")
    if folder and Path(folder).is_dir():
        return str(folder)
    if uri and not uri.endswith(".json") and (storage.is_s3(uri) or Path(uri).is_dir()):
        return str(uri)
    return None


def _input_labels(index: Any, rel: str) -> Any:
    """The input's label object as the job's worker gets it (an input the annotations do
    not name has none, which is valid)."""
    from augment.labels.formats import NoLabels

    found = index.image(rel)
    return NoLabels() if found is None else found


def _output_root(manifest: Path, shown: str, summary: dict[str, Any] | None) -> str:
    """The job's output folder or ``s3://`` prefix: the one that holds the manifest's
    ``_augment/`` (else the summary's ``output_dir``)."""
    tail = f"{META_DIR}/{manifest.name}"
    if storage.is_s3(shown) and shown.endswith("/" + tail):
        return shown[: -len(tail)]
    if manifest.parent.name == META_DIR:
        return str(manifest.parent.parent)
    return str(summary["output_dir"]) if summary else str(manifest.parent)


def _check_labels(result: ReplayResult, index: Any, made: variant.Variant, obj: Any, root: str, line: int,
                  manifest: Path) -> None:
    """Make the output's label files as the job's worker made them, and note in ``result``
    each one that differs from (or is missing beside) what the job wrote, and counts that
    differ from the record's."""
    from augment.labels.formats import entry_of, journal_name

    output = result.record["output"]
    journal = f"{META_DIR}/{journal_name(_host(manifest))}"
    writer = index.writer(_label_prefix(index, root, output, journal))
    files = writer.files(output, made.labels, obj)
    entry = writer.line(output, made.labels, obj)
    if entry is not None:
        files[journal] = entry.encode("utf-8", errors="backslashreplace")
    result.annotations, result.labels, result.label_files = index.where, made.labels, files
    for path, data in sorted(files.items()):
        where = storage.join(root, path)
        try:
            written = storage.read_bytes(where)
        except FileNotFoundError:
            result.label_mismatches.append(f"{where}: missing (the job wrote this output's labels there)")
            continue
        if path == journal:  # one line of it is this output's
            found = entry_of(written, output)
            if found is None:
                result.label_mismatches.append(f"{where}: no line for {output} (the job writes one per output)")
            elif found.encode("utf-8", errors="backslashreplace") != data:
                result.label_mismatches.append(f"{where}: the line of {output} differs from the labels re-created "
                                               "for it")
        elif written != data:
            result.label_mismatches.append(f"{where}: differs from the labels re-created for {output}")
    counts = made.counts.to_json() if made.counts is not None else None
    if result.record.get("labels") != counts:
        result.label_mismatches.append(f"record {line}'s labels {json.dumps(result.record.get('labels'))} differ "
                                       f"from the replay's {json.dumps(counts)}")


def _host(manifest: Path) -> str:
    """The host whose manifest ``manifest`` is (``manifest-<host>.jsonl``; ``local`` for another name)."""
    name = manifest.name
    if name.startswith("manifest-") and name.endswith(".jsonl"):
        return name[len("manifest-"):-len(".jsonl")]
    return "local"


def _label_prefix(index: Any, root: str, output: str, journal: str) -> str:
    """Ground Truth's ``source-ref`` prefix: the output as the job named it (a processing
    job names its ``s3://`` output, which its summary does not record), read from the
    line it wrote for this output where that line names it; else the output folder."""
    from augment.labels.formats import entry_of

    if index.format != "groundtruth":
        return ""
    try:
        found = entry_of(storage.read_bytes(storage.join(root, journal)), output)
        ref = str(json.loads(found.partition("\t")[2])["source-ref"]) if found else ""
    except (FileNotFoundError, ValueError, LookupError, TypeError):
        ref = ""
    if ref.endswith("/" + output):
        return ref[: -len(output)]
    return root if storage.is_s3(root) else str(Path(root).resolve()) + "/"


def _write(out: Path, data: bytes) -> None:
    from augment.files import write_output  # atomic; one 'cannot write X (--out): reason' line

    write_output(out, data, flag="out=")


def _unescaped(source: str) -> str:
    """``source`` as the manifest writes a name that is not valid UTF-8 (``bad\\udcff.jpg``,
    a JSON escape), read back as the name itself; else ``source`` unchanged."""
    if "\\u" not in source:
        return source
    try:
        return json.loads('"' + source.replace('"', '\\"') + '"')
    except ValueError:
        return source


def _find(manifest: Path, record: int | None, source: str | None, copy: int,
          shown: str) -> tuple[int, dict[str, Any]]:
    """(line number, record) of the chosen record, reading the manifest as a stream; by
    source, the latest record of that (input, copy) (a resume appends one when it redoes it)."""
    count = 0
    copies: list[int] = []
    found: tuple[int, dict[str, Any]] | None = None
    sources = {source, _unescaped(source)} if source is not None else set()
    for count, rec in enumerate(iter_manifest(manifest), 1):
        if record is not None and count == record:
            return count, rec
        if source is not None and rec["source"] in sources:
            if rec["copy"] == copy:
                found = count, rec
            else:
                copies.append(rec["copy"])
    if found is not None:
        return found
    if record is not None:
        raise UsageError(f"record={record}: the manifest has records 1 to {count}")
    if copies:
        raise UsageError(f"copy={copy}: {source} has copies {', '.join(map(str, sorted(set(copies))))} in {shown} "
                         "(-1 is a kept original)")
    raise UsageError(f"source={source}: no record of that input in {shown}; give its path relative to the "
                     "job's input root, as in the manifest's \"source\" field")


def _read_input(rel: str, input_dir: str | Path | None, summary: dict[str, Any] | None,
                summary_path: Path) -> tuple[bytes, str]:
    """The input's bytes and where they were read."""
    if input_dir is None:
        if summary is None:
            raise UsageError(f"no {summary_path.name} beside the manifest; pass input_dir=")
        input_dir = summary["input_dir"]
        uri = summary.get("input_uri")
        if not Path(input_dir).is_dir() and uri:  # the staging folder is gone: read where it came from
            return _read_from_uri(uri, rel)
    path = Path(input_dir) / rel
    if not path.is_file():
        raise UsageError(f"input {path} not found; pass input_dir= with the job's input root")
    return path.read_bytes(), str(path)


def _read_from_uri(uri: str, rel: str) -> tuple[bytes, str]:
    """An input of a job that ``augment run`` staged from ``uri``: a local folder (or
    file), an ``s3://`` prefix (a key's path is the part after the prefix's last
    ``/``, as the runtimes stage it), or a batch's ``ManifestFile`` (``.json``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from augment.keys import input_root

    hint = "; pass input_dir= with the job's input root"
    where = uri
    try:
        if uri.endswith(".json"):  # a batch's manifest: [{"prefix": ...}, keys relative to it]
            with contextlib.suppress(IsADirectoryError):  # unless a folder is named so
                return _read_from_uri(_manifest_prefix(storage.read_bytes(uri), uri), rel)
        where = input_root(uri) + rel
        return storage.read_bytes(where), where
    except (FileNotFoundError, IsADirectoryError):
        raise UsageError(f"input {rel} not found: the job's staged input is gone and its input {uri} has no "
                         f"{where}{hint}") from None
    except (BotoCoreError, ClientError) as e:
        raise UsageError(f"cannot read input {rel} from the job's input {uri}: {e}{hint}") from None


def _manifest_prefix(text: bytes, uri: str) -> str:
    try:
        entries = json.loads(text)
        return str(entries[0]["prefix"])
    except (ValueError, LookupError, TypeError):
        raise UsageError(f"the job's input {uri} is not a manifest ([{{\"prefix\": ...}}, keys...]); "
                         "pass input_dir= with the job's input root") from None
