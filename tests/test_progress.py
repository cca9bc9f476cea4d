"""Progress: plain lines for logs, a tqdm bar for people."""

from __future__ import annotations

import io
import re

from augment.progress import Progress


def test_plain_lines_report_count_rate_and_eta():
    stream = io.StringIO()
    bar = Progress(4, mode="lines", interval=0.0, stream=stream)
    for i in range(4):
        bar.update(errors=int(i == 2))
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5, "one line per update at interval 0, and a final one"
    assert re.fullmatch(r"progress: 1/4 inputs \(25\.0%\), [\d.]+ inputs/s, ETA \d+m\d\ds, 0 errors", lines[0])
    assert lines[-1].startswith("progress: 4/4 inputs (100.0%)") and lines[-1].endswith(", 1 error")
    assert "\r" not in stream.getvalue()


def test_lines_and_the_bar_name_what_they_count_in_agreement_with_the_count():
    stream = io.StringIO()
    one = Progress(1, mode="lines", interval=3600, stream=stream)
    one.update()
    one.close()
    assert stream.getvalue().startswith("progress: 1/1 input (100.0%), ") and ", 0 errors" in stream.getvalue()
    stream = io.StringIO()
    batches = Progress(3, unit="batch", mode="lines", interval=3600, stream=stream)
    batches.close()
    assert stream.getvalue().startswith("progress: 0/3 batches (0.0%), 0.0 batches/s")
    stream = io.StringIO()
    bar = Progress(3, mode="bar", stream=stream)
    bar.update(3)
    bar.close()
    assert "inputs/s" in stream.getvalue()


def test_plural_agrees_with_the_count():
    from augment.text import plural

    assert [plural(n, w) for n, w in [(1, "copy"), (2, "copy"), (0, "input"), (1, "instance"), (3, "batch"),
                                     (1, "failed input"), (2, "day")]] == \
        ["1 copy", "2 copies", "0 inputs", "1 instance", "3 batches", "1 failed input", "2 days"]


def test_plain_lines_are_throttled():
    stream = io.StringIO()
    bar = Progress(1000, mode="lines", interval=3600, stream=stream)
    for _ in range(1000):
        bar.update()
    assert stream.getvalue() == ""


def test_bar_mode_uses_tqdm():
    stream = io.StringIO()
    bar = Progress(3, mode="bar", stream=stream)
    bar.update(3)
    bar.close()
    assert "3/3" in stream.getvalue()


def test_auto_mode_picks_lines_off_a_terminal():
    assert Progress(1, stream=io.StringIO()).mode == "lines"


def test_auto_mode_is_not_fooled_by_ipykernel_imported_outside_a_kernel():
    import ipykernel.comm  # noqa: F401 - ipywidgets imports it in plain scripts too
    import ipywidgets  # noqa: F401

    assert Progress(1, stream=io.StringIO()).mode == "lines"
