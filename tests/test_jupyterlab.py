"""The notebooks as a SageMaker Studio user sees them: JupyterLab (Studio's front end) on
127.0.0.1, Debian's Chromium driven by Playwright, every cell run in the page.

JupyterLab typesets ``$...$`` in HTML and Markdown output as LaTeX (MathJax): a plan's
``$0.010 ($0.004-$0.015)`` read as italic maths. What the kit shows must stay text.

One JupyterLab server and one browser for the module; the kernel inherits the server's
environment, so AWS calls (were there any) reach the moto server of the ``aws`` fixture.
Without Chromium the tests are skipped, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from augment.preview import PAD, Previewer, cell_size
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, need_chromium, serve

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MATHJAX = "mjx-container, .MathJax, mjx-math, .MathJax_Display"
CANARY = "augment-mathjax-canary"
CANARY_CELL = f"from IPython.display import HTML\nHTML('<p class=\"{CANARY}\">not the kit: $x^2$</p>')"
"""A last cell whose output MathJax does typeset: once it is, the outputs before it have been
through MathJax too, and "none of the kit's typeset" means something (a fixed wait did not)."""
COST = re.compile(r"\$\d+\.\d{3} \(\$\d+\.\d{3}-\$\d+\.\d{3}\)")

pytestmark = pytest.mark.slow


def _with_parameters(name: str, folder: Path, **values: Any) -> Path:
    """A copy of a notebook of notebooks/ in ``folder``, with ``values`` set after its
    parameters cell (as papermill injects them) and the MathJax canary as its last cell."""
    import nbformat

    nb = nbformat.read(str(NOTEBOOKS / name), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    if values:
        lines = [f"{k} = {v!r}" for k, v in values.items()]
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]}))
    nb.cells.append(nbformat.v4.new_code_cell(CANARY_CELL))
    path = folder / name
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def lab(aws: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """JupyterLab serving a temporary folder, token-less, on 127.0.0.1; yields its URL and the folder."""
    need_chromium()
    root = tmp_path_factory.mktemp("lab")
    state = tmp_path_factory.mktemp("lab-state")  # no user settings, workspaces or runtime files
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(state / "config"), "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(state / "ws")}
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))  # no toast asking about news over the notebook
    command = lambda port: [  # noqa: E731
        str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
        "--ServerApp.terminals_enabled=False"]  # fmt: skip
    with serve(command, cwd=root, env=env, log=state / "lab.log", probe="/api/status") as url:
        yield url, root


@pytest.fixture(scope="module")
def browser(lab: tuple[str, Path]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def run_in_lab(browser: Any, url: str, name: str, viewport: dict[str, int] | None = None) -> Any:
    """Open notebook ``name`` in JupyterLab, run every cell (Run > Run All Cells) and
    return the page once the last has run; fail with the cell's error where one failed."""
    page = browser.new_page(viewport=viewport or {"width": 1400, "height": 900})
    page.goto(f"{url}/lab/tree/{name}?reset", timeout=120_000)  # reset: no tab of an earlier test restored
    panel = f"""Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context && w.context.path === {
        json.dumps(name)})"""
    page.wait_for_function(f"""() => {{ const w = window.jupyterapp && {panel};
        const kernel = w && w.sessionContext.session && w.sessionContext.session.kernel;
        return kernel && kernel.status === 'idle'; }}""", timeout=120_000)
    ok = page.evaluate(f"""async () => {{ const w = {panel};
        window.jupyterapp.shell.activateById(w.id);
        const ok = await window.jupyterapp.commands.execute('notebook:run-all-cells');
        await w.sessionContext.session.kernel.requestKernelInfo();  // answered once every cell has run
        return ok; }}""")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    failed = [t for t in errors.all_text_contents() if "Traceback" in t or "Error" in t]
    assert ok, f"{name}: a cell failed in JupyterLab: {failed}"
    return page


def outputs_with(page: Any, selector: str) -> Any:
    """The output areas (one per output) that hold ``selector``."""
    return page.locator(f".jp-OutputArea-output:has({selector})")


def kit_outputs(page: Any) -> Any:
    """Every output but the canary's, once MathJax has typeset the canary (the last cell)."""
    page.locator(f".jp-OutputArea-output:has(.{CANARY})").locator(MATHJAX).first.wait_for(timeout=120_000)
    return page.locator(f".jp-OutputArea-output:not(:has(.{CANARY}))")


def test_03_shows_costs_and_results_as_text_in_jupyterlab(lab, browser):
    """The plan's costs and the summary read as the text they are: no MathJax in any output,
    the ``$`` signs there. The output folder has ``$`` signs too, which the summary shows."""
    url, root = lab
    output = root / "costs $1 and $2"
    _with_parameters("03_standalone_job.ipynb", root, output=str(output))
    page = run_in_lab(browser, url, "03_standalone_job.ipynb")
    try:
        kit = kit_outputs(page)
        plan = outputs_with(page, "table.augment-plan")
        assert plan.count() == 1, "the plan is shown once"
        assert plan.locator(MATHJAX).count() == 0, "the plan's costs were typeset as LaTeX"
        costs = COST.findall(plan.text_content())
        assert costs, f"no cost 'low (high-low)' in the plan's text: {plan.text_content()[:500]}"

        request = outputs_with(page, "table.augment-request")
        assert request.count() == 1 and "augment process" in request.text_content()
        assert request.locator("details").get_attribute("open") is None, "the whole request is folded"
        assert not request.locator("details pre").is_visible()

        summary = outputs_with(page, "table.augment-results")
        assert summary.count() == 1, "the summary is shown once, as a table"
        text = summary.text_content()
        assert str(output) in text and "Completed" in text and '"Completed"' not in text, text[:500]

        typeset = kit.locator(MATHJAX)
        assert typeset.count() == 0, f"typeset as LaTeX: {typeset.all_text_contents()[:3]}"
        assert len(list(output.rglob("*.aug*"))) == 14, "the job ran, and wrote where the summary says"
    finally:
        page.close()


def test_02_step_through_strip_is_in_view_after_a_click_in_jupyterlab(lab, browser):
    """A click on a tile of the previewer opens the variant op by op: the strip is scrolled
    into the viewport of JupyterLab's notebook."""
    url, root = lab
    _with_parameters("02_preview_augmentations.ipynb", root)
    page = run_in_lab(browser, url, "02_preview_augmentations.ipynb", viewport={"width": 1400, "height": 800})
    try:
        page.wait_for_selector("img.augment-grid", timeout=120_000)
        grid = page.locator("img.augment-grid").first
        grid.evaluate("e => e.scrollIntoView({block: 'start'})")  # its first row in view, the strip below it not
        page.wait_for_timeout(500)
        box = grid.bounding_box()
        scale = box["width"] / grid.evaluate("e => e.naturalWidth")
        side = inspect.signature(Previewer).parameters["max_side"].default  # notebook 02 keeps it
        cell_w = cell_size(side)[0]
        x, y = PAD + cell_w + side / 2, PAD + side / 2  # the middle of row 0, column 1: the first image's first copy
        assert page.evaluate("document.querySelectorAll('.augment-steps img').length") == 0
        page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)
        page.wait_for_function("document.querySelectorAll('.augment-steps img').length >= 4", timeout=60_000)
        page.wait_for_timeout(1500)  # the pictures load, and a smooth scroll ends
        seen = page.evaluate("""() => {
            const strip = document.querySelector('.augment-steps').getBoundingClientRect();
            const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
            const panel = notebook.getBoundingClientRect();
            return {strip_top: strip.top, strip_bottom: strip.bottom, panel_top: panel.top,
                    panel_bottom: Math.min(panel.bottom, window.innerHeight)}; }""")
        chosen = page.evaluate("document.querySelector('.augment-step-choice select').selectedIndex")
        assert chosen == 0, "the tile clicked is the first image's first copy"
        assert seen["panel_top"] - 1 <= seen["strip_top"] < seen["panel_bottom"] - 100, \
            f"the step-through strip is not in the notebook's view after the click: {json.dumps(seen)}"
    finally:
        page.close()


def test_06_draws_its_labelled_grids_in_jupyterlab(lab, browser):
    """Notebook 06 in JupyterLab: the previewer with its labels box ticked, then both jobs'
    outputs with their labels, as pictures; the jobs wrote their label files where asked."""
    url, root = lab
    scratch = root / "runs"
    _with_parameters("06_labels.ipynb", root, scratch=str(scratch))
    page = run_in_lab(browser, url, "06_labels.ipynb")
    try:
        page.wait_for_selector("img.augment-grid", timeout=120_000)
        assert page.locator(".augment-previewer .augment-show-labels input").is_checked(), "labels drawn"
        pictures = outputs_with(page, "img:not(.augment-grid)")
        assert pictures.count() == 2, "inputs beside outputs, labels drawn, for each job"
        assert all(p.locator("img").evaluate("e => e.naturalWidth") > 300 for p in pictures.all())
        assert (scratch / "coco" / "annotations.json").is_file()
        assert len(list((scratch / "yolo" / "labels").rglob("*.txt"))) == 14
    finally:
        page.close()


SHOWN = '''\
from augment.jobs.follow import JobResults
from augment.notebooks import Redacted

class Markdown:
    def _repr_markdown_(self):
        return "| mode | cost |\\n|---|---|\\n| sharded | $0.010 ($0.004-$0.015) |\\n\\nin all $0.010 ($0.004-$0.015)"

class Html:
    def _repr_html_(self):
        return "<p>sharded: $0.010 ($0.004-$0.015)</p>"

display(Redacted(Markdown()), Redacted(Html()))
JobResults({"output": "s3://bucket/$0.010 ($0.004-$0.015)/", "failures_by_reason": {"$0.010 ($0.004-$0.015)": 1}})
'''


def test_the_kits_html_and_markdown_read_as_text_in_jupyterlab(lab, browser):
    """Redacted (around Markdown or HTML) and a job's results, each with ``$`` signs: no
    MathJax, every ``$`` shown."""
    import nbformat

    url, root = lab
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SHOWN), nbformat.v4.new_code_cell(CANARY_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, str(root / "shown.ipynb"))
    page = run_in_lab(browser, url, "shown.ipynb")
    try:
        shown = kit_outputs(page)
        assert shown.count() == 3
        for i in range(3):
            assert shown.nth(i).locator(MATHJAX).count() == 0, f"output {i} typeset as LaTeX"
            assert "$0.010 ($0.004-$0.015)" in shown.nth(i).text_content(), shown.nth(i).inner_html()[:500]
        assert len(COST.findall(shown.nth(0).text_content())) == 2, "the Markdown's table and its line"
    finally:
        page.close()
