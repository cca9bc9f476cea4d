"""Ground Truth output manifests merge in one function (review of #28, finding 17):
merge_ground_truth, which a sharded job's hosts' parts (merge_parts) and a set of
batches' manifests (merge_batches) both go through."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from augment.engine.labels import merge_parts
from augment.jobs.labels import merge_batches
from augment.labels.groundtruth import merge_ground_truth


def _line(ref: str, n: int) -> str:
    return json.dumps({"source-ref": ref, "box": {"annotations": [{"class_id": n}]}}, separators=(",", ":"))


def test_parts_merge_in_source_ref_order_each_line_ending_once():
    first = (_line("s3://b/out/c.jpg", 3) + "\n" + _line("s3://b/out/a.jpg", 1)).encode()  # no last newline
    second = ("\n" + _line("s3://b/out/b.jpg", 2) + "\n").encode()
    merged = merge_ground_truth([first, second]).decode()
    assert merged == "".join(_line(f"s3://b/out/{x}.jpg", n) + "\n" for n, x in ((1, "a"), (2, "b"), (3, "c")))


def test_a_name_holding_a_line_separator_of_unicode_is_one_line():
    """JSON written with ensure_ascii=False keeps U+2028 and U+0085 raw: only a newline ends a line."""
    odd = json.dumps({"source-ref": "s3://b/out/a\u2028b\x85.jpg", "box": {"annotations": []}}, ensure_ascii=False,
                     separators=(",", ":"))
    assert "\u2028" in odd and "\x85" in odd
    merged = merge_ground_truth([(odd + "\n").encode(), (_line("s3://b/out/c.jpg", 2) + "\n").encode()])
    assert merged.decode() == odd + "\n" + _line("s3://b/out/c.jpg", 2) + "\n"


@pytest.mark.parametrize("bad", ["not json", '{"box": 1}', "[1, 2]"])
def test_a_line_that_is_not_ground_truths_is_named(bad):
    with pytest.raises(ValueError, match=r"output manifest part 2, line 2: not a Ground Truth line"):
        merge_ground_truth([_line("s3://b/a", 1).encode(), f"{_line('s3://b/b', 2)}\n{bad}\n".encode()])


def test_hosts_parts_and_batches_manifests_merge_as_merge_ground_truth_does(tmp_path):
    parts = [(_line("s3://b/out/d.jpg", 4) + "\n" + _line("s3://b/out/b.jpg", 2)).encode(),
             (_line("s3://b/out/c.jpg", 3) + "\n" + _line("s3://b/out/a.jpg", 1) + "\n").encode()]
    hosts = tmp_path / "hosts"
    (hosts / "_augment").mkdir(parents=True)
    for n, part in enumerate(parts, 1):
        (hosts / "_augment" / f"labels-algo-{n}.manifest").write_bytes(part)
    assert merge_parts(hosts) == ["output.manifest"]
    batches = tmp_path / "batches"
    for n, part in enumerate(parts):
        (batches / f"batch-{n:05d}").mkdir(parents=True)
        (batches / f"batch-{n:05d}" / "output.manifest").write_bytes(part)
    done = [SimpleNamespace(output_uri=f"{batches}/batch-{n:05d}/", status="Completed") for n in range(2)]
    assert merge_batches(str(batches), done) == ["output.manifest"]
    expected = merge_ground_truth(parts)
    assert (hosts / "output.manifest").read_bytes() == expected == (batches / "output.manifest").read_bytes()
    assert expected.decode().count("\n") == 4
