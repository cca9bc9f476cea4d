"""The notebooks: committed clean, run with their defaults through papermill (and
through nbval, by `make test`), and notebook 03 with injected parameters, on the local
runtime and against SageMaker's API (moto's server), asserting on what each run produced."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import nbformat
import PIL.Image
import pytest
import requests

from augment.errors import UsageError
from augment.manifest import read_manifest
from augment.notebooks import KERNELSPEC, problems, strip
from augment.notebooks import main as notebooks_main
from augment.spec import load_spec
from tests.aws import recorded

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
AUGMENT = Path(sys.executable).with_name("augment")
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/augment:0.4.0"
ACCOUNT_ID = re.compile(r"(?<![\d.])\d{12}(?!\d)")


def execute(name: str, out: Path, **parameters: object) -> nbformat.NotebookNode:
    """Run a notebook of notebooks/ with papermill (cwd: notebooks/, kernel python3); return the executed one."""
    import papermill

    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters, kernel_name="python3",
                               cwd=str(NOTEBOOKS), progress_bar=False)
    return nbformat.read(str(out), as_version=4)


def output_text(nb: nbformat.NotebookNode) -> str:
    """Every text a run showed: streams, plain text, HTML and Markdown."""
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", ""))
            for kind in ("text/plain", "text/html", "text/markdown"):
                parts.append(o.get("data", {}).get(kind, ""))
    return "\n".join(parts)


def images_shown(nb: nbformat.NotebookNode, source_contains: str) -> int:
    """PNG outputs of the code cells whose source contains ``source_contains``."""
    return sum("image/png" in o.get("data", {}) for c in nb.cells if source_contains in c.source
               for o in c.get("outputs", []))


def aug_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.aug*") if "_augment" not in p.parts)


# --- committed clean ------------------------------------------------------------------------


def test_the_notebooks_are_there():
    names = [p.name for p in ALL]
    for prefix in ("01_", "03_", "04_", "05_", "06_"):
        assert any(n.startswith(prefix) for n in names), f"no notebook {prefix}*"


@pytest.mark.parametrize("notebook", ALL, ids=lambda p: p.name)
def test_committed_notebooks_are_stripped(notebook):
    """No outputs, no execution counts, kernel python3, one `parameters` cell: else `make strip-notebooks`."""
    assert problems(notebook) == [], f"{notebook.name}: run `make strip-notebooks`"


def test_strip_cleans_what_studio_and_papermill_leave(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "conda-env-augment-py", "display_name": "augment", "language": "python"}
    nb.metadata["papermill"] = {"parameters": {"spec": "strong"}}
    nb.cells = [nbformat.v4.new_code_cell("spec = 'light'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(spec)", execution_count=3, metadata={"papermill": {"duration": 1}},
                                          outputs=[nbformat.v4.new_output("stream", name="stdout", text="light\n")])]
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, str(path))
    assert problems(path) == ["kernel name 'conda-env-augment-py', not 'python3'", "cell 1 has outputs",
                              "cell 1 has an execution count"]
    assert notebooks_main(["check", str(path)]) == 1
    assert strip(path) is True and strip(path) is False, "strip is idempotent"
    assert problems(path) == [] and notebooks_main(["check", str(path)]) == 0
    clean = nbformat.read(str(path), as_version=4)
    assert clean.metadata.kernelspec.name == "python3" and "papermill" not in clean.metadata
    assert clean.cells[1].outputs == [] and clean.cells[1].metadata == {}
    assert clean.cells[0].metadata["tags"] == ["parameters"], "the tag stays"
    untagged = tmp_path / "untagged.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")],
                                            metadata={"kernelspec": dict(KERNELSPEC)}), str(untagged))
    assert problems(untagged) == ["0 cells tagged 'parameters', not one code cell"]
    capsys.readouterr()


def test_the_python3_kernel_is_this_python():
    """conftest pins `python3` to this interpreter, so papermill runs the notebooks in this environment."""
    from jupyter_client.kernelspec import KernelSpecManager

    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable


# --- every notebook with its defaults ------------------------------------------------------


def _check_01(nb: nbformat.NotebookNode, results: dict | None) -> None:
    text = output_text(nb)
    assert re.search(r"would run: (docker|podman) build -f", text) and "--password-stdin" in text
    assert "container engine:" in text and "suggested method:" in text, "where are we, in words"
    assert re.search(r"this run: +method = 'local': a dry run", text), "what the chosen method does here"
    assert "would be pushed to <account>.dkr.ecr." in text
    assert "Nothing was built here. To try a build: augment run --backend local --image augment:" in text
    assert "<account>.dkr.ecr." in text, "a dry run names no account"


def _check_03(nb: nbformat.NotebookNode, results: dict | None) -> None:
    assert results is not None
    assert results["status"] == "Completed" and results["spec"] == "light"
    assert results["inputs"] == 7 and results["copies"] == 2 and results["written"] == 14
    assert len(aug_files(Path(results["output"]))) == 14
    assert images_shown(nb, "augment.jobs.preview") == 1, "the grid of inputs beside outputs"
    (request,) = [o.data for c in nb.cells if "show_request" in c.source for o in c.outputs if "data" in o]
    assert len(request["text/plain"].splitlines()) <= 12, "what matters, not 90 lines of JSON"
    assert re.search(r"command: +augment process --progress lines --spec light", request["text/plain"])
    html = request["text/html"]
    assert 'class="augment-request"' in html and "<details><summary>the whole CreateProcessingJob request" in html
    assert "&quot;ProcessingJobName&quot;" in html.split("<details>")[1], "the whole request, folded"


def _check_04(nb: nbformat.NotebookNode, results: dict | None) -> None:
    assert results is not None and results["mode"] == "both"
    assert results["sharded"]["written"] == 14 and results["sharded"]["hosts_reported"] == 2
    batches = results["batched"]["batches"]
    assert [len(b["keys"]) for b in batches] == [2, 2, 2, 1] and {b["status"] for b in batches} == {"Completed"}
    assert images_shown(nb, "augment.jobs.timelines") == 1, "the timeline figure"
    text = output_text(nb)
    losses = re.findall(r"batch \d: loss (\d+\.\d+) -> (\d+\.\d+) over (\d+) images of 7 classes", text)
    assert len(losses) == 4, "the training loop saw every batch, with the labels of the whole input"
    assert [int(n) for _, _, n in losses] == [4, 8, 12, 14], "it trains on every batch received so far"
    assert float(losses[-1][1]) < float(losses[0][0]), f"the toy model learns: {losses}"
    chosen = re.findall(r"(sharded|batched): launching on (ml\.[\w.]+), as the plan recommends", text)
    assert [mode for mode, _ in chosen] == ["sharded", "batched"], "each launch says which type, and why"
    assert results["sharded"]["instance_type"] == chosen[0][1], "the sharded job runs on the type its plan recommends"


def _check_05(nb: nbformat.NotebookNode, results: dict | None) -> None:
    assert results is not None and results["runs"] == 4 and results["failed"] == 0
    folder = Path(results["folder"])
    assert {"summary.csv", "summary.md", "figure.png"} <= {p.name for p in folder.iterdir()}
    assert [row["status"] for row in results["table"]] == ["completed"] * 4
    assert sorted((Path(r["spec"]).name, r["copies"]) for r in results["table"]) == [
        ("light-jitter0.1.yaml", 1), ("light-jitter0.1.yaml", 2), ("light-jitter0.5.yaml", 1),
        ("light-jitter0.5.yaml", 2)]
    assert all(r["written"] == 7 * r["copies"] and r["images_per_s"] > 0 for r in results["table"])
    assert images_shown(nb, "augment.sweep.figure") == 1


def _check_06(nb: nbformat.NotebookNode, results: dict | None) -> None:
    """Both jobs wrote their labels as training code reads them, and every grid was drawn."""
    from pycocotools.coco import COCO

    assert results is not None
    coco, yolo = results["coco"], results["yolo"]
    assert (coco["status"], coco["inputs"], coco["written"]) == ("Completed", 7, 14)
    out = Path(coco["output"])
    written = COCO(str(out / "annotations.json"))  # a reader no one here wrote
    names = sorted(i["file_name"] for i in written.dataset["images"])
    assert names == sorted(p.relative_to(out).as_posix() for p in aug_files(out)), "an image entry per output"
    assert len(written.getCatIds()) == 15 and len(written.getAnnIds()) > 20
    for image in written.dataset["images"]:
        with PIL.Image.open(out / image["file_name"]) as file:
            assert file.size == (image["width"], image["height"]), "its own size"
    assert (yolo["status"], yolo["inputs"], yolo["written"]) == ("Completed", 7, 14), "the tree's labels/ excluded"
    tree = Path(yolo["output"])
    images = sorted(p.relative_to(tree / "images").with_suffix("").as_posix() for p in aug_files(tree / "images"))
    labels = sorted(p.relative_to(tree / "labels").with_suffix("").as_posix() for p in (tree / "labels").rglob("*.txt"))
    assert images == labels and len(images) == 14, "an Ultralytics tree: a label file per output image"
    assert sum(bool(p.read_text()) for p in (tree / "labels").rglob("*.txt")) >= 12
    assert "names" in (tree / "data.yaml").read_text()
    assert (Path(results["yolo_tree"]) / "data.yaml").is_file()
    for cell in ("Previewer(", "augment.jobs.preview(job", "augment.jobs.preview(yolo_job"):
        assert images_shown(nb, cell) == 1, f"no picture from {cell}"


CHECKS = {"01": _check_01, "03": _check_03, "04": _check_04, "05": _check_05, "06": _check_06}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ALL, ids=lambda p: p.name)
def test_every_notebook_runs_with_its_defaults(notebook, aws, tmp_path):
    """papermill with the defaults (only `results_path` injected, where a notebook has one), on the
    local backend; AWS calls, were there any, would reach moto's server."""
    from augment.sweep import notebook_parameters

    results_path = tmp_path / "results.json"
    injected = {"results_path": str(results_path)} if "results_path" in notebook_parameters(notebook) else {}
    nb = execute(notebook.name, tmp_path / notebook.name, **injected)
    assert not ACCOUNT_ID.search(output_text(nb)), "no account id in any output"
    check = CHECKS.get(notebook.name[:2])
    if check:
        check(nb, json.loads(results_path.read_text()) if injected else None)


@pytest.mark.slow
@pytest.mark.parametrize(("parameters", "shown", "not_shown"), [
    ({"method": "codebuild"},
     ["would call: s3.put_object(Bucket=\"<the session's default bucket>\", Key='augment/codebuild/",
      "would call: codebuild.start_build(projectName='augment-image'", "docker push $IMAGE_URI",
      "would be pushed to <account>.dkr.ecr.us-east-1.amazonaws.com/augment:"], []),
    ({"method": "dlc"},  # AWS's public registry is named: the URI can be copied
     ["no build: jobs run on 763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:",
      "image_uri = 763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:",
      "nothing is pushed (method = 'dlc')", "method = 'dlc': no build"], ["<account>"]),
    ({"method": "local", "push": False},
     ["nothing is pushed (push = False): the image stays on this machine as augment:"],
     [".dkr.ecr.", "would be pushed", "login"]),
], ids=["codebuild", "dlc", "local push=False"])
def test_01_shows_every_method_without_calling_aws(parameters, shown, not_shown, aws, tmp_path):
    from augment.notebooks import public_accounts

    requests.post(f"{aws}/moto-api/reset").raise_for_status()
    nb = execute("01_build_image.ipynb", tmp_path / "01.ipynb", region="us-east-1", **parameters)
    text = output_text(nb)
    assert all(line in text for line in shown), text
    assert not [line for line in not_shown if line in text], text
    assert set(ACCOUNT_ID.findall(text)) <= public_accounts(), "only AWS's public registries are named"
    assert boto3.client("ecr").describe_repositories()["repositories"] == [], "a dry run creates nothing"


# --- notebook 03 with injected parameters -----------------------------------------------------


@pytest.mark.slow
def test_03_with_another_preset_two_copies_and_its_own_images(aws, tmp_path, small_samples):
    src = tmp_path / "mine"
    (src / "sub").mkdir(parents=True)
    for i, name in enumerate(["chelsea.jpg", "coffee.jpg", "rocket.jpg"]):
        with PIL.Image.open(small_samples / name) as img:
            img.save(src / ("sub" if i == 2 else "") / f"mine-{i}.jpg", quality=90)
    out, results_path = tmp_path / "out", tmp_path / "results.json"
    execute("03_standalone_job.ipynb", tmp_path / "03.ipynb", spec="strong", copies=2, input=str(src),
            output=str(out), results_path=str(results_path))

    inputs = ["mine-0.jpg", "mine-1.jpg", "sub/mine-2.jpg"]
    assert len(aug_files(out)) == len(inputs) * 2
    used = load_spec(str(out / "_augment" / "spec.yaml"))
    assert used == load_spec("strong").replace(copies=2), "the spec used: strong, with copies overridden"
    records = read_manifest(out / "_augment" / "manifest-algo-1.jsonl")
    assert sorted((r["source"], r["copy"]) for r in records) == [(s, c) for s in inputs for c in (0, 1)]
    assert all(r["status"] == "ok" and (out / r["output"]).is_file() and r["params"] for r in records)
    results = json.loads(results_path.read_text())
    assert results["status"] == "Completed" and results["spec"] == "strong" and results["output"] == str(out)
    assert (results["inputs"], results["copies"], results["written"]) == (3, 2, 6)
    assert results["failed_inputs"] == 0 and results["failures_by_reason"] == {}
    assert results["spec_digest"] == used.digest
    assert results["images_per_s"] > 0 and results["wall_s"] >= results["work_s"] > 0


# --- notebook 06 with injected parameters -----------------------------------------------------


@pytest.mark.slow
def test_06_with_its_own_images_annotations_and_scratch_under_home(tmp_path, monkeypatch):
    """input, annotations, copies and scratch reach both jobs (``~`` is the kernel's home)."""
    from pycocotools.coco import COCO

    from augment.samples import annotations_path, samples_dir

    home = tmp_path / "home"
    (home / "mine" / "sub").mkdir(parents=True)
    chosen = {"chelsea.jpg": "sub/cat.jpg", "coffee.jpg": "cup.jpg"}
    for name, rel in chosen.items():
        shutil.copyfile(samples_dir() / name, home / "mine" / rel)
    coco = json.loads(annotations_path().read_text())
    images = [{**i, "file_name": chosen[i["file_name"]]} for i in coco["images"] if i["file_name"] in chosen]
    kept = {i["id"] for i in images}
    mine = {**coco, "images": images, "annotations": [a for a in coco["annotations"] if a["image_id"] in kept]}
    (home / "mine.json").write_text(json.dumps(mine))
    monkeypatch.setenv("HOME", str(home))  # the kernel inherits it
    results_path = tmp_path / "results.json"
    execute("06_labels.ipynb", tmp_path / "06.ipynb", input="~/mine", annotations="~/mine.json", copies=1,
            scratch="~/runs", n_images=2, results_path=str(results_path))
    results = json.loads(results_path.read_text())
    out = home / "runs" / "coco"
    assert results["coco"]["output"] == str(out) and results["yolo"]["output"] == str(home / "runs" / "yolo")
    written = COCO(str(out / "annotations.json"))
    assert sorted(i["file_name"] for i in written.dataset["images"]) == ["cup.jpg.aug0.jpg", "sub/cat.jpg.aug0.jpg"]
    assert len(written.getAnnIds()) == len(mine["annotations"]), "light drops nothing of these"
    labels = sorted(p.relative_to(home / "runs" / "yolo").as_posix() for p in (home / "runs" / "yolo").rglob("*.txt"))
    assert labels == ["labels/train/cup.jpg.aug0.txt", "labels/train/sub/cat.jpg.aug0.txt"]
    assert sorted(p.name for p in (home / "runs" / "yolo-tree" / "labels" / "train").rglob("*.txt")) == [
        "cat.txt", "cup.txt"]


# --- notebook 03 against SageMaker's API ------------------------------------------------------


@pytest.mark.slow
def test_03_on_sagemaker_sends_the_request_that_local_run_executes(aws, tmp_path, monkeypatch):
    """The kernel's CreateProcessingJob (moto's recorder) is the request `augment local-run` runs."""
    from moto.moto_api import recorder

    # an absolute file: by default the recorder writes into the working directory, which papermill changes
    monkeypatch.setattr(recorder, "_location", str(tmp_path / "moto_recording"))
    bucket = f"sagemaker-us-east-1-{ACCOUNT}"  # Studio's default bucket is named after the account
    boto3.client("s3").create_bucket(Bucket=bucket)
    requests.post(f"{aws}/moto-api/recorder/reset-recording").raise_for_status()
    requests.post(f"{aws}/moto-api/recorder/start-recording").raise_for_status()
    try:
        nb = execute("03_standalone_job.ipynb", tmp_path / "03.ipynb", backend="sagemaker", role=ROLE, bucket=bucket,
                     region="us-east-1", image_uri=IMAGE, instance_type="ml.c5.xlarge", instance_count=2, copies=1,
                     output=f"s3://{bucket}/aug/")
    finally:
        requests.post(f"{aws}/moto-api/recorder/stop-recording").raise_for_status()
    recording = recorded(requests.get(f"{aws}/moto-api/recorder/download-recording").text)
    creates = [json.loads(base64.b64decode(r["body"])) for r in recording
               if r["headers"].get("X-Amz-Target") == "SageMaker.CreateProcessingJob"]
    assert len(creates) == 1
    sent = creates[0]
    images_uri = sent["ProcessingInputs"][0]["S3Input"]["S3Uri"]  # recorded in the summary, for replay
    assert sent["AppSpecification"] == {"ImageUri": IMAGE, "ContainerEntrypoint": ["augment", "process"],
                                        "ContainerArguments": ["--progress", "lines", "--spec", "light",
                                                               "--input-uri", images_uri, "--copies", "1"]}
    assert sent["ProcessingResources"]["ClusterConfig"] == {"InstanceCount": 2, "InstanceType": "ml.c5.xlarge",
                                                            "VolumeSizeInGB": 30}
    assert sent["RoleArn"] == ROLE
    (images,) = sent["ProcessingInputs"]
    assert images["InputName"] == "images" and images["S3Input"]["LocalPath"] == "/opt/ml/processing/input/images"
    assert images["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert re.fullmatch(rf"s3://{bucket}/augment/inputs/[0-9a-f]{{16}}/", images["S3Input"]["S3Uri"]), \
        "the bundled samples, uploaded under a content-named prefix"
    assert sent["ProcessingOutputConfig"]["Outputs"] == [{"OutputName": "output", "AppManaged": False, "S3Output": {
        "S3Uri": f"s3://{bucket}/aug/", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]
    assert ACCOUNT not in output_text(nb), "the account id (in the role, the image, the bucket) is never shown"

    result = subprocess.run([str(AUGMENT), "local-run", sent["ProcessingJobName"], "--instance-count", "2"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="aug/")
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    assert len([k for k in keys if ".aug0." in k]) == 7 and not [k for k in keys if ".aug1." in k]
    assert {"aug/_augment/manifest-algo-1.jsonl", "aug/_augment/manifest-algo-2.jsonl"} <= set(keys)


# --- what the notebooks call ------------------------------------------------------------------


class _ScriptedJob:
    """A job handle whose status and log lines advance one step per look."""

    def __init__(self, steps: list[tuple[str, list[str]]]) -> None:
        self.name, self.steps, self.looks = "scripted", steps, 0
        self.request = None

    def status(self) -> str:
        self.looks += 1
        return self.steps[min(self.looks, len(self.steps)) - 1][0]

    def logs(self) -> list[str]:
        return self.steps[min(self.looks, len(self.steps)) - 1][1]

    def wait(self, timeout=None, poll=0.0):
        return {"ProcessingJobStatus": self.steps[-1][0]}


def test_follow_counts_every_hosts_progress_and_shows_the_other_lines(capsys):
    import io

    from augment.jobs import follow

    start = [f"[algo-{h}] augment: 3 inputs x 2 copies on 2 workers, host algo-{h}; 3 inputs to do" for h in (1, 2)]
    role = f"[algo-1] augment: role arn:aws:iam::{ACCOUNT}:role/R"
    done = [*start, "[algo-1] augment: progress: 3/3 inputs (100.0%), 9.0 inputs/s, ETA 0m00s, 0 errors", role,
            "[algo-2] augment: progress: 2/3 inputs (66.7%), 9.0 inputs/s, ETA 0m00s, 0 errors"]
    job = _ScriptedJob([("InProgress", []), ("InProgress", start), ("Completed", done)])
    out = io.StringIO()
    assert follow(job, poll=0, out=out, bar=False) == {"ProcessingJobStatus": "Completed"}
    shown = out.getvalue().splitlines()
    assert shown == [*start, "[algo-1] augment: role arn:aws:iam::<account>:role/R"], \
        "progress lines feed the bar; the others are shown once, without the account id"


def test_timelines_project_each_job_with_sagemakers_start_up():
    import datetime as dt

    from augment.jobs import timelines
    from augment.jobs.follow import _schedule

    t, s = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.timedelta(seconds=1)

    def described(created: float, started: float, ended: float, count: int = 1) -> dict:
        return {"CreationTime": t + created * s, "ProcessingStartTime": t + started * s,
                "ProcessingEndTime": t + ended * s, "ProcessingResources": {"ClusterConfig": {"InstanceCount": count}}}

    assert _schedule([10, 10, 10, 5], 2) == [0, 0, 10, 10], "two at once, the next when one ends"
    fig = timelines({"sharded": [described(0, 0.1, 9, count=2)],
                     "batched": [described(0, 0.1, 8), described(0, 0.1, 8), described(9, 9.1, 14)],
                     "unfinished": [{"CreationTime": t}]}, startup_s=300)
    _, projected = fig.axes
    assert [t.get_text() for t in projected.get_legend().get_texts()] == [
        "sharded: 1 job, 10 instance-min of start-up billed", "batched: 3 jobs, 15 instance-min of start-up billed"]
    assert projected.get_xlim()[1] > 600, "the third batch waits for a slot: two start-ups in a row"
    with pytest.raises(UsageError, match="no finished job"):
        timelines({"x": [{"CreationTime": t}]})


def test_backend_locations_and_options_name_the_parameter_at_fault(tmp_path):
    from augment.jobs import LocalBackend, launch, locations, make_backend, request_options

    with pytest.raises(UsageError, match="backend must be one of local, sagemaker, got 'aws'"):
        make_backend("aws")
    local = make_backend("local")
    assert isinstance(local, LocalBackend)
    source, out = locations(local, None, None, name="t")
    assert Path(source).name == "photos" and Path(out).is_dir() and Path(out).name.startswith("augment-t-")
    with pytest.raises(UsageError, match=r"input: .* is neither a folder nor an s3:// prefix"):
        locations(local, str(tmp_path / "missing"))
    assert request_options(local, copies=3) == {"copies": 3}
    with pytest.raises(UsageError, match="copies=0: must be an integer in"):  # launch() checks it first
        launch(local, "light", source, out, **request_options(local, copies=0))
    assert list(Path(out).iterdir()) == [], "nothing ran"


def test_redaction_keeps_numbers_that_are_not_account_ids():
    from augment.notebooks import Redacted, redact
    from augment.text import plain_html

    assert redact(f"s3://sagemaker-us-east-1-{ACCOUNT}/x {ACCOUNT}.dkr.ecr 0.{ACCOUNT}5 1234567890123") == \
        "s3://sagemaker-us-east-1-<account>/x <account>.dkr.ecr 0.1234567890125 1234567890123"

    class Shows:
        def _repr_html_(self) -> str:
            return f"<td>arn:aws:iam::{ACCOUNT}:role/R</td>"

    shown = Redacted(Shows())
    assert shown._repr_html_() == plain_html("<td>arn:aws:iam::<account>:role/R</td>"), "text in JupyterLab, no LaTeX"
    assert shown._repr_markdown_() is None
    assert Redacted(Redacted(Shows()))._repr_html_() == shown._repr_html_(), "wrapped once"


def test_results_show_their_values_as_text():
    """No JSON quotes (``"Completed"``), a mapping as pairs, no account id; text in JupyterLab."""
    from augment.jobs.follow import JobResults
    from augment.text import plain_html

    results = JobResults({"status": "Completed", "written": 14, "failures_by_reason": {}, "startup_s": None,
                          "failed": {"decode": 2, "too large": 1}, "output": f"s3://sagemaker-us-east-1-{ACCOUNT}/x"})
    assert results.rows() == [("status", "Completed"), ("written", "14"), ("failures_by_reason", "none"),
                              ("startup_s", "-"), ("failed", "decode: 2, too large: 1"),
                              ("output", "s3://sagemaker-us-east-1-<account>/x")]
    shown = results._repr_html_()
    assert shown.startswith(plain_html("")[:-6]) and '<td style="text-align:left">Completed</td>' in shown
    assert json.loads(json.dumps(results)) == results, "still a plain, JSON-ready dict"


# --- the kit's errors in a notebook -----------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failed_cell(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """The cell that failed in an executed notebook, and its error output's lines (no colours)."""
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs))
    (error,) = [o for o in cell.outputs if o.output_type == "error"]
    return cell, [ANSI.sub("", line) for line in error.traceback]


@pytest.mark.slow
@pytest.mark.parametrize(("notebook", "parameters", "shown"), [
    ("03_standalone_job.ipynb", {"copies": 0}, "UsageError: copies=0: must be >= 1"),
    ("03_standalone_job.ipynb", {"input": "/no/such/photos"},
     "UsageError: input: /no/such/photos is neither a folder nor an s3:// prefix"),
    ("02_preview_augmentations.ipynb", {"source": "/no/such/photos"},
     "UsageError: source=/no/such/photos: no such folder or file"),
    ("03_standalone_job.ipynb", {"backend": "sagemaker"}, "CredentialsError: no AWS region"),
    ("03_standalone_job.ipynb", {"backend": "sagemaker", "region": "us-east-1"}, "CredentialsError: "),
    ("05_parameter_sweep.ipynb", {"notebook": "07_missing.ipynb"},
     "UsageError: notebook='07_missing.ipynb': not found; looked for "),
    ("05_parameter_sweep.ipynb", {"grid": {"copies": []}}, "UsageError: grid=: no runs (an empty list of values?)"),
    ("06_labels.ipynb", {"annotations": "missing.json"}, "UsageError: annotations=missing.json: no such file"),
], ids=["copies=0", "missing input", "02 missing source", "sagemaker no region", "sagemaker no credentials",
        "05 missing notebook", "05 empty grid", "06 missing annotations"])
def test_a_bad_parameter_is_one_line_naming_it(notebook, parameters, shown, tmp_path, monkeypatch):
    """The kit's own error shows as one line in the notebook's terms (the parameter, not the
    CLI's flag), not a traceback; the run stops there."""
    import papermill

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION",
                 "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)  # the kernel inherits this environment: no AWS at all
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(papermill.PapermillExecutionError):
        execute(notebook, tmp_path / notebook, **parameters)
    cell, lines = failed_cell(tmp_path / notebook)
    assert len(lines) == 1, f"a traceback, not one line: {lines}"
    assert lines[0].startswith(shown) and lines[0].endswith("(%tb shows the traceback)"), lines[0]
    outside_commands = re.sub(r"`[^`]*`", "", lines[0])  # a command to run keeps its flags (`aws configure --profile`)
    assert not re.search(r"(?<![\w-])--[a-z]", outside_commands), f"a CLI flag, not the parameter: {lines[0]}"
    assert [o.output_type for o in cell.outputs] == ["error"], "nothing else: no traceback on stderr"


@pytest.mark.slow
def test_tb_shows_the_traceback_of_the_kits_error_and_other_errors_keep_theirs(tmp_path):
    import papermill

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": dict(KERNELSPEC)}, cells=[
        nbformat.v4.new_code_cell("import augment.jobs, augment.notebooks\naugment.notebooks.show_errors()\nx = 1",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('augment.jobs.make_backend("aws")', metadata={"tags": ["raises-exception"]}),
        nbformat.v4.new_code_cell("%tb"),
        nbformat.v4.new_code_cell("{}['missing']", metadata={"tags": ["raises-exception"]}),
    ])
    path = tmp_path / "errors.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(papermill.PapermillExecutionError):  # the cells that raise are tagged so: every cell runs
        papermill.execute_notebook(str(path), str(path), kernel_name="python3", progress_bar=False)
    ran = [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]

    (short,) = ran[1].outputs
    assert [ANSI.sub("", line) for line in short.traceback] == [
        "UsageError: backend must be one of local, sagemaker, got 'aws'  (%tb shows the traceback)"]
    full = "\n".join(ANSI.sub("", line) for o in ran[2].outputs for line in o.get("traceback", []))
    assert "make_backend" in full and "raise UsageError" in full and len(full.splitlines()) > 5, full
    (other,) = ran[3].outputs
    assert other.ename == "KeyError" and len(other.traceback) > 1, "other exceptions keep their traceback"


def test_messages_name_the_notebooks_parameters():
    from augment.notebooks import in_notebook_terms

    assert in_notebook_terms("invalid job option:\n  - copies=0: must be an integer in [1, 1000], got 0") \
        == "invalid job option: copies=0: must be an integer in [1, 1000], got 0"
    missing = "input=/x: no such folder or file"
    assert in_notebook_terms(missing, {"source": None}) == "source=/x: no such folder or file", "notebook 02's name"
    assert in_notebook_terms(missing, {"input": None}) == "input=/x: no such folder or file"
    assert in_notebook_terms("input_dir=/x: not a directory") == "input=/x: not a directory", "a job's input_dir"
    two = "invalid spec x:\n  - ops[0]: unknown\n  - ops[1]: unknown"
    assert in_notebook_terms(two) == two, "every problem of several, on its line"
    assert in_notebook_terms("image_uri= is required with backend=sagemaker") == \
        "image_uri= is required with backend=sagemaker", "the library's parameters, as written"


@pytest.mark.parametrize("message", [
    "job failed; to see what it did: `augment run --json --input x > job.json`",
    "out=/x already holds this sweep: pass resume=True to finish it",
    "see \"augment process --resume --input-dir d\" for the rest",
])
def test_commands_keep_their_flags(message):
    """A command to run keeps its flags and its words; the parameters read as written."""
    from augment.notebooks import in_notebook_terms

    namespace = {"json": None, "input": None, "resume": False, "input_dir": None, "source": None}
    assert in_notebook_terms(message, namespace) == message


def test_advice_names_the_notebooks_parameter_where_it_has_one():
    from augment.notebooks import in_notebook_terms

    message = "no AWS region: pass region=, set AWS_DEFAULT_REGION, or set one with `aws configure --region x`"
    assert in_notebook_terms(message, {"region": None}) == message
    assert in_notebook_terms("pass input_dir= with the job's input root", {"source": None}) == \
        "pass source= with the job's input root", "notebook 02 calls its input source"


def test_the_handler_redacts_account_ids_only():
    """It redacted every 12-digit number (a byte count, a timestamp)."""
    from augment.errors import UsageError
    from augment.notebooks import _one_line

    class Shell:
        def __init__(self) -> None:
            self.user_ns: dict = {}

        def _showtraceback(self, etype, value, stb):
            self.shown = stb

    shell = Shell()
    error = UsageError(f"output=s3://sagemaker-us-east-1-{ACCOUNT}/o: role {ROLE} read {ACCOUNT} bytes, "
                       f"job 202612061200")
    _one_line(shell, UsageError, error, None)
    assert ANSI.sub("", shell.shown[0]) == (
        "UsageError: output=s3://sagemaker-us-east-1-<account>/o: role arn:aws:iam::<account>:role/SageMakerRole "
        f"read {ACCOUNT} bytes, job 202612061200  (%tb shows the traceback)")


def test_importing_the_module_installs_no_handler():
    """Importing augment.notebooks (for redact, JobResults...) in a user's kernel set IPython's
    handler halfway through the session; show_errors() is what does it."""
    code = ("from IPython.core.interactiveshell import InteractiveShell\n"
            "shell = InteractiveShell.instance()\n"
            "import augment.notebooks\n"
            "print(shell.custom_exceptions)\n"
            "augment.notebooks.show_errors()\n"
            "print([e.__name__ for e in shell.custom_exceptions])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["()", "['AugmentError']"], done.stdout


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_notebook_shows_errors_in_its_first_code_cell(path):
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    assert "show_errors()" in code[0].source, code[0].source


def test_a_tilde_is_the_home_folder_where_paths_enter_the_kit(tmp_path, monkeypatch, small_samples):
    """``input="~/photos"`` was 'neither a folder nor an s3:// prefix'."""
    from augment.jobs import locations, make_backend
    from augment.jobs.follow import host_summaries
    from augment.preview import Images

    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(small_samples, tmp_path / "photos")
    local = make_backend("local", workdir="~/work")
    assert local.workdir == str(tmp_path / "work")
    source, out = locations(local, "~/photos", "~/out")
    assert (source, out) == (str(tmp_path / "photos"), str(tmp_path / "out"))
    (tmp_path / "out" / "_augment").mkdir(parents=True)
    (tmp_path / "out" / "_augment" / "summary-algo-1.json").write_text('{"written": 3}')
    assert host_summaries("~/out") == {"algo-1": {"written": 3}}
    assert Images("~/photos").keys() == sorted(p.name for p in small_samples.iterdir()), "notebook 02's source"
    assert locations(local, "s3://b/~x/", "s3://b/~y/") == ("s3://b/~x/", "s3://b/~y/"), "S3 keys stay as they are"


@pytest.mark.slow
def test_augmented_images_label_a_class_the_same_in_every_batch(tmp_path, small_samples):
    """A class per folder of the input (a file at its root is its own class), numbered over the
    whole input: ``dogs`` is split over two batches and has one label in both."""
    from augment.jobs import AugmentedImages, LocalBackend, classes_of, run_batched

    src = tmp_path / "in"
    photos = sorted(small_samples.iterdir())
    for rel, photo in zip(["cats/a.jpg", "cats/b.jpg", "dogs/c.jpg", "dogs/d.jpg", "e.jpg"], photos, strict=False):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, src / rel)
    report = run_batched(LocalBackend(), "light", str(src), str(tmp_path / "out"), batch_size=3, max_in_flight=2,
                         poll=0.2, progress="off", copies=2)
    assert [b.keys for b in report.batches] == [["cats/a.jpg", "cats/b.jpg", "dogs/c.jpg"], ["dogs/d.jpg", "e.jpg"]]
    assert report.classes == classes_of(["e.jpg", "dogs/d.jpg", "cats/a.jpg"]) == ["cats", "dogs", "e.jpg"]
    first, second = (AugmentedImages(b.output_uri, size=16, classes=report.classes) for b in report.batches)
    assert sorted(label for _, label in first.items) == [0, 0, 0, 0, 1, 1]
    assert sorted(label for _, label in second.items) == [1, 1, 2, 2], "dogs is 1 in both batches"
    image, label = second[0]
    assert tuple(image.shape) == (3, 16, 16) and label in (1, 2)
    assert AugmentedImages(report.batches[1].output_uri).classes == ["dogs", "e.jpg"], "alone: its own classes"
    with pytest.raises(UsageError, match=r"classes: .* holds inputs of classes not listed: e\.jpg"):
        AugmentedImages(report.batches[1].output_uri, classes=["cats", "dogs"])


def test_01_says_what_the_chosen_method_does_beside_the_suggestion():
    """It suggested 'dlc' and carried on with a local build, silently."""
    from augment.notebooks import BuildEnvironment, redact

    bare = BuildEnvironment(None, False, "local", dry_run=False)
    assert bare.suggested_method == "dlc"
    assert bare.this_run() == ("method = 'local': a dry run whatever dry_run says, since no engine answers here: it "
                               "shows the commands a build would run; method = 'dlc' fits this machine")
    assert "(method = 'local' is the one suggested here)" in BuildEnvironment("docker 28", True, "dlc").this_run()
    assert "this run" in BuildEnvironment(None, True, "codebuild")._repr_html_()
    dlc = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312"
    assert redact(f"{dlc} {ACCOUNT}.dkr.ecr") == f"{dlc} <account>.dkr.ecr", "AWS's public registry stays"
