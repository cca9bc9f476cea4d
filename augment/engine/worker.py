"""The work of one input: its copies made (by :func:`augment.variant.make`), written and
recorded. Runs in a worker process (or in the job's own for one worker).
"""

from __future__ import annotations

import resource
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from augment import variant
from augment.images import EXTENSIONS, atomic_write_bytes, read_input
from augment.manifest import ORIGINAL
from augment.pipeline import OpFailed, Pipeline, derive_seed
from augment.variant import OUT_OF_MEMORY

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


class _Worker:
    def __init__(self, spec: dict[str, Any], input_dir: str, output_dir: str, max_pixels: int,
                 writer: Any = None) -> None:
        self.pipeline = Pipeline(spec)
        self.input_dir = Path(input_dir)
        self.output_dir = Path(output_dir)
        self.max_pixels = max_pixels
        self.writer = writer

    def process(self, rel: str, copies: tuple[int, ...], labels: Any = None) -> list[dict[str, Any]]:
        """Make the given copies of one input (``ORIGINAL`` for the kept original) and
        return their manifest records. A bad input never raises: its reason goes
        into the records.

        Args:
            labels: in a labelled job (a ``writer``), the input's label object
                (``None``: it has none); each output's label files are written beside it
                before its record, and its journal line rides on its record
                (:data:`LABEL_LINE`).
        """
        return self.process_batch([(rel, copies, labels)])[0]

    def process_batch(self, tasks: Sequence[Task], on_input: Callable[[int], None] | None = None,
                      stopped: Callable[[], bool] | None = None) -> list[list[dict[str, Any]]]:
        """:meth:`process` for several inputs, in order: each input's records.

        In a labelled job the outputs' pixels come first, every input's, and then their
        labels, one output after another (:meth:`~augment.pipeline.Pipeline.apply_deferred`;
        an input with masks has its outputs' labels made at once, as a batch would hold them):
        the label code then runs with its instructions and data in the caches, which the
        pixel kernels of the image between two outputs otherwise evict. An output's image
        is written before its labels are made; where an op then fails on its labels, the
        image goes again and the output's record says so, as if it had failed at once.

        Args:
            on_input: called with an input's index as the worker starts on it, in either
                half (what a worker process tells its parent it is on).
            stopped: asked before each input's pixels: once it says so, the inputs done
                so far are finished and their records returned; the rest are not begun.
        """
        made = []
        for i, (rel, copies, labels) in enumerate(tasks):
            if stopped is not None and stopped():
                break
            if on_input is not None:
                on_input(i)
            made.append(self._pixels(rel, copies, labels))
        records = []
        for i, outputs in enumerate(made):
            if on_input is not None:
                on_input(i)
            records.append([item if isinstance(item, dict) else self._finish(*item) for item in outputs])
            if (release := getattr(tasks[i][2], "release", None)) is not None:
                release()  # what the input's outputs shared (its labels read, say) goes with them
        return records

    def _pixels(self, rel: str, copies: tuple[int, ...], labels: Any) -> list[Any]:
        """An input's outputs made and written: per copy, its record, or where its labels
        were left for later, what :meth:`_finish` makes its record of."""
        outputs: list[Any] = []
        spec_seed = self.pipeline.spec.seed
        if self.writer is not None and labels is None:
            from augment.labels.formats import NoLabels

            labels = NoLabels()
        # augmented copies first: an input that cannot be decoded is not kept either
        for v in variant.make(self.pipeline, lambda: read_input(self.input_dir, rel), rel, copies,
                              max_pixels=self.max_pixels, labels=labels, defer=self.writer is not None):
            base = {"source": rel, "source_sha256": v.source_sha256}
            if not v.ok:
                outputs.append(_failed(base, spec_seed, v.copy, v.error, v.reason))  # type: ignore[arg-type]
                if v.label_reason is not None:
                    outputs[-1]["label_reason"] = v.label_reason
                continue
            assert v.data is not None and v.format is not None
            name = output_name(rel, v.copy, v.format)
            try:
                atomic_write_bytes(self.output_dir / name, v.data)
            except OSError as e:
                outputs.append(_failed(base, spec_seed, v.copy, f"cannot write: {e}", "write_failed"))
                continue
            except MemoryError:
                outputs.append(_failed(base, spec_seed, v.copy, OUT_OF_MEMORY, "out_of_memory"))
                continue
            v.data = None  # written: a batch holds no output's bytes
            # labels left for later wait for the batch's second half; the rest (an input with
            # masks, whose labels a batch would hold) are written now
            outputs.append((base, v, name, labels) if v.finish is not None else self._finish(base, v, name, labels))
        return outputs

    def _finish(self, base: dict[str, Any], v: variant.Variant, name: str, labels: Any) -> dict[str, Any]:
        """The record of an output whose image is written: its labels made where they
        were left for later, its label files written, its journal line on the record."""
        spec_seed = self.pipeline.spec.seed
        line = None
        try:
            if v.finish is not None:
                try:
                    v.labels, v.counts = v.finish()
                except (OpFailed, MemoryError):
                    _unlink(self.output_dir / name)
                    raise
            if self.writer is not None:
                for path, data in self.writer.files(name, v.labels, labels).items():
                    atomic_write_bytes(self.output_dir / path, data)
                line = self.writer.line(name, v.labels, labels)
        except OpFailed as e:
            return _failed(base, spec_seed, v.copy, str(e), "op_failed")
        except OSError as e:
            return _failed(base, spec_seed, v.copy, f"cannot write: {e}", "write_failed")
        except MemoryError:
            return _failed(base, spec_seed, v.copy, OUT_OF_MEMORY, "out_of_memory")
        assert v.format is not None
        return {
            **base, "copy": v.copy, "output": name, "output_sha256": v.output_sha256,
            "seed": v.seed, "params": v.params, "status": "ok", "error": None, "reason": None,
            "format": v.format.lower(), "size": v.size,
            **({"labels": v.counts.to_json()} if v.counts is not None else {}),
            **({LABEL_LINE: line} if line is not None else {}),
        }  # fmt: skip


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:  # its record says it failed; a later run writes over it
        pass


LABEL_LINE = "_label_line"
"""The key of an "ok" record that carries its output's label journal line (COCO, Ground
Truth) from the worker to the job's process, which appends it to the journal and takes
it off the record before writing the record."""


def _failed(base: dict[str, Any], spec_seed: int, copy: int, error: str, reason: str) -> dict[str, Any]:
    seed = None if copy == ORIGINAL else derive_seed(spec_seed, base["source"], copy)
    return {**base, "copy": copy, "output": None, "output_sha256": None, "seed": seed, "params": None,
            "status": "failed", "error": error, "reason": reason}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


_WORKER: _Worker | None = None


def _init_worker(spec: dict[str, Any], input_dir: str, output_dir: str, max_pixels: int, writer: Any = None,
                 current: Any = None) -> None:
    """Set up a worker process; ``current``: see :data:`_CURRENT`."""
    global _WORKER, _CURRENT
    _CURRENT = current
    # The parent coordinates a stop: workers finish their image instead of dying mid-write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(1)
    _WORKER = _Worker(spec, input_dir, output_dir, max_pixels, writer)


Task = tuple[str, tuple[int, ...], Any]
"""An input, its copies to make, and its label object (``None``: none, or an unlabelled job)."""
Result = tuple[list[dict[str, Any]], float]


_CURRENT: Any = None
"""In a worker process: a shared integer, the index in its running task of the input it
is on (-1 between tasks), so that the parent can tell which input a worker died on."""


def _work(chunk: list[Task]) -> list[Result]:
    assert _WORKER is not None

    def on_input(i: int) -> None:
        if _CURRENT is not None:
            _CURRENT.value = i

    results = [(records, _peak_rss_mb()) for records in _WORKER.process_batch(chunk, on_input)]
    on_input(-1)
    return results
