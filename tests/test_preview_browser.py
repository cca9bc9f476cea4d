"""The preview widget in a real browser: Voila serves notebooks/02 on 127.0.0.1, Debian's
Chromium (driven by Playwright) moves a slider with the keyboard, turns an op off, clicks
a tile and clicks Export.

Playwright's own browser download does not work on these machines; `.ci/run` installs
Debian's `chromium` when it is missing. Without it the test is skipped, except in CI
(`CI` set), where it fails: the browser test must not be lost silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augment.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_preview_augmentations.ipynb"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOT = os.environ.get("AUGMENT_PREVIEW_SCREENSHOT")
"""Where to copy the 'after' screenshot too (the README's docs/preview.png is taken this way)."""

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def voila(tmp_path):
    """Voila serving a copy of notebook 02 from a temporary folder (Export writes there)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing in CI (.ci/run installs it)")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    port = _free_port()
    log = open(tmp_path / "voila.log", "w")  # closed below, after the server
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("voila")), NOTEBOOK.name, "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--ServerApp.ip=127.0.0.1"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, (tmp_path / "voila.log").read_text()
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/", tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_for_new_grid(page, before: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        src = page.get_attribute(".augment-grid", "src")
        if src and src != before:
            return src
        time.sleep(0.1)
    raise AssertionError("the grid did not change")


def test_the_preview_works_in_a_real_browser(voila):
    from playwright.sync_api import sync_playwright

    url, folder = voila
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            # tall enough for the whole widget: the page's own scrolling container would
            # leave what is scrolled out of view blank in a screenshot
            page = browser.new_page(viewport={"width": 1500, "height": 3000})
            page.goto(url, timeout=180_000)
            page.wait_for_selector("img.augment-grid", timeout=180_000)  # the kernel renders the first grid
            first = _wait_for_new_grid(page, "")
            page.screenshot(path=str(folder / "before.png"), clip=page.locator(".augment-previewer").bounding_box())

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

            # a tile opened op by op (ipyevents): the input, each op, the written output
            box = page.locator("img.augment-grid").bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + 40)
            page.wait_for_function("document.querySelectorAll('.augment-steps img').length >= 4", timeout=60_000)

            # Export, and the status it reports
            page.get_by_role("button", name="Export").click()
            page.wait_for_selector("text=wrote spec.yaml (valid)", timeout=60_000)
            page.screenshot(path=str(folder / "after.png"), clip=page.locator(".augment-previewer").bounding_box())
        finally:
            browser.close()
    spec = load_spec(folder / "spec.yaml")
    names = [next(iter(op)) for op in spec.ops]
    assert names == ["RandomResizedCrop", "ColorJitter"], "the flip was turned off"
    low, high = spec.ops[1]["ColorJitter"]["brightness"]
    assert (low, high) != (0.8, 1.2), "the slider moved the brightness range"
    assert (folder / "before.png").stat().st_size > 10_000 and (folder / "after.png").stat().st_size > 10_000
    if SCREENSHOT:
        shutil.copy(folder / "after.png", SCREENSHOT)
