"""The preview widget in a real browser: Voila serves notebooks/02 on 127.0.0.1, Debian's
Chromium (driven by Playwright) in a laptop-sized window checks that slider readouts are
not clipped, moves a slider with the keyboard, turns ops off (one inside a RandomChoice,
whose weight box must show the weights used), clicks a tile low in the window (the
step-through must come into view, the tile framed and chosen in the list) and clicks
Export.

Without Debian's Chromium the test is skipped, except in CI, where it fails (tests/browser.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from augment.spec import load_spec
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, need_chromium, serve

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_preview_augmentations.ipynb"
SCREENSHOT = os.environ.get("AUGMENT_PREVIEW_SCREENSHOT")
"""Where to copy the 'after' screenshot too (the README's docs/preview.png is taken this way)."""

pytestmark = pytest.mark.slow


@pytest.fixture()
def voila(tmp_path):
    """Voila serving a copy of notebook 02 from a temporary folder (Export writes there)."""
    need_chromium()
    # notebook 02 as it ships, on a spec with a RandomChoice (its weight box is checked)
    text = NOTEBOOK.read_text()
    assert 'spec = \\"light\\"' in text
    (tmp_path / NOTEBOOK.name).write_text(text.replace('spec = \\"light\\"', 'spec = \\"browser.yaml\\"', 1))
    light = load_spec("light").to_dict()
    light["ops"].append({"RandomChoice": {"ops": ["RandomInvert", "RandomGrayscale", "RandomEqualize"],
                                          "p": [1, 2, 1]}})
    (tmp_path / "browser.yaml").write_text(load_spec(light).to_yaml())
    command = lambda port: [  # noqa: E731
        str(Path(sys.executable).with_name("voila")), NOTEBOOK.name, "--no-browser", f"--port={port}",
        "--Voila.ip=127.0.0.1", "--ServerApp.ip=127.0.0.1"]  # fmt: skip
    with serve(command, cwd=tmp_path, log=tmp_path / "voila.log", timeout=60) as url:
        yield url + "/", tmp_path


def _wait_for_new_grid(page, before: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        src = page.get_attribute(".augment-grid", "src")
        if src and src != before:
            return src
        time.sleep(0.1)
    raise AssertionError("the grid did not change")


VIEWPORT = {"width": 1400, "height": 900}  # a laptop's window: what is below it is out of view
TALL = {"width": 1500, "height": 3000}
"""For screenshots of the whole widget: the page's own scrolling container would leave what
is scrolled out of view blank in a screenshot."""

READOUTS = """() => [...document.querySelectorAll('.augment-previewer .widget-readout')]
    .filter(e => e.offsetParent !== null)
    .map(e => [e.textContent, e.scrollWidth, e.clientWidth])"""

STRIP_IN_VIEW = """(count) => {
    const strip = document.querySelector('.augment-steps');
    const images = strip ? [...strip.querySelectorAll('img')] : [];
    if (images.length < count || !images.every(i => i.complete && i.naturalWidth > 0)) return false;
    const r = strip.getBoundingClientRect();
    return r.height > 0 && r.top >= -1 && r.bottom <= window.innerHeight + 1;  // block: nearest lands on a fraction
}"""

GRID_PIXEL = """([x, y]) => {
    const img = document.querySelector('img.augment-grid');
    if (!img || !img.complete || !img.naturalWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return [...ctx.getImageData(x, y, 1, 1).data.slice(0, 3)];
}"""


def test_the_preview_works_in_a_real_browser(voila):
    from playwright.sync_api import sync_playwright

    from augment.preview import HIGHLIGHT, PAD, cell_size

    url, folder = voila
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url, timeout=180_000)
            page.wait_for_selector("img.augment-grid", timeout=180_000)  # the kernel renders the first grid
            first = _wait_for_new_grid(page, "")
            page.set_viewport_size(TALL)
            page.screenshot(path=str(folder / "before.png"), clip=page.locator(".augment-previewer").bounding_box())
            page.set_viewport_size(VIEWPORT)

            # every slider readout shows its whole value ("0.80 – 1.20" was cut to "0.80 – 1.")
            readouts = page.evaluate(READOUTS)
            assert any("\u2013" in text for text, _sw, _cw in readouts), readouts  # range sliders among them
            assert [r for r in readouts if r[1] > r[2]] == [], "clipped readouts (text, scrollWidth, clientWidth)"

            # a slider, moved with the keyboard (continuous_update=False: the value is sent on release)
            handle = page.locator(".augment-ColorJitter-brightness .noUi-handle").first
            handle.focus()
            for _ in range(10):
                handle.press("ArrowRight")
            after_slider = _wait_for_new_grid(page, first)

            # an op turned off
            page.locator(".augment-toggle-RandomHorizontalFlip input").click()
            after_toggle = _wait_for_new_grid(page, after_slider)
            assert after_toggle != first

            # an op of the RandomChoice turned off: the others keep their weights, and the box shows them
            page.locator(".augment-toggle-RandomInvert input").click()
            after_choice = _wait_for_new_grid(page, after_toggle)
            page.wait_for_function("document.querySelector('.augment-RandomChoice-p input').value.split(',').length"
                                   " === 2", timeout=60_000)
            shown = yaml.safe_load(page.locator(".augment-RandomChoice-p input").input_value())

            # a tile in the last row, clicked with the grid's bottom at the window's bottom: the
            # step-through strip, under the grid, starts out of view and must be brought into it
            grid = page.locator("img.augment-grid")
            grid.evaluate("e => e.scrollIntoView({block: 'end'})")
            box = grid.bounding_box()
            scale = box["width"] / grid.evaluate("e => e.naturalWidth")
            cell_w, cell_h = cell_size(192)
            row, col = 3, 1  # the fourth image, copy 0
            left, top = PAD + col * cell_w, PAD + row * cell_h  # the tile's corner, in the grid's pixels
            assert page.locator(".augment-steps").bounding_box()["y"] > VIEWPORT["height"], "starts out of view"
            page.mouse.click(box["x"] + (left + 96) * scale, box["y"] + (top + 96) * scale)
            page.wait_for_function(STRIP_IN_VIEW, arg=5, timeout=120_000)  # input, 3 ops on, the output
            frame = json.dumps(list(HIGHLIGHT), separators=(",", ":"))  # as JSON.stringify writes it
            framed = f"(xy) => JSON.stringify(({GRID_PIXEL})(xy)) === '{frame}'"
            page.wait_for_function(framed, arg=[left - 3, top + 96], timeout=60_000)  # the tile is framed
            assert page.evaluate(GRID_PIXEL, [left - 3 - cell_w, top + 96]) != list(HIGHLIGHT), "that tile only"
            chosen = page.evaluate("document.querySelector('.augment-step-choice select').selectedIndex")
            assert chosen == row * 2 + (col - 1), "the tile is the one chosen under 'step through'"
            assert after_choice

            # Export, and the status it reports
            page.get_by_role("button", name="Export").click()
            page.wait_for_selector("text=wrote spec.yaml (valid)", timeout=60_000)
            page.set_viewport_size(TALL)
            page.screenshot(path=str(folder / "after.png"), clip=page.locator(".augment-previewer").bounding_box())
        finally:
            browser.close()
    spec = load_spec(folder / "spec.yaml")
    names = [next(iter(op)) for op in spec.ops]
    assert names == ["RandomResizedCrop", "ColorJitter", "RandomChoice"], "the flip was turned off"
    low, high = spec.ops[1]["ColorJitter"]["brightness"]
    assert (low, high) != (0.8, 1.2), "the slider moved the brightness range"
    choice = spec.ops[2]["RandomChoice"]
    assert [next(iter(op)) for op in choice["ops"]] == ["RandomGrayscale", "RandomEqualize"]
    assert choice["p"] == pytest.approx([2 / 3, 1 / 3]), "the weights of the ops left, not equal ones"
    assert [v / sum(shown) for v in shown] == pytest.approx(choice["p"]), f"the box showed {shown}"
    assert (folder / "before.png").stat().st_size > 10_000 and (folder / "after.png").stat().st_size > 10_000
    if SCREENSHOT:
        shutil.copy(folder / "after.png", SCREENSHOT)
