"""The processing image, built from ``container/Dockerfile`` as shipped (only build arguments
differ) and run as SageMaker runs it: ``make image-test`` (``-m image``; CI runs it).

Docker or podman builds it once per session (``augment image build``); see
``tests/image/harness.py`` for the base image and the torch index on machines that reach
no container registry. Each test runs the image the way a job would meet it: hosts as
containers with a SageMaker-shaped ``/opt/ml`` (the local runtime's ``engine``), stopped
with the engine's ``stop`` (``StopProcessingJob``'s SIGTERM to PID 1), resumed in a fresh
container, refused for a bad spec or too many bad inputs, and compared byte for byte with
the same job run as processes of this Python.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from augment import container, engines
from augment.jobs import Input, JobRequest, LocalBackend, Output, build_request, run_local
from augment.jobs.launch import LOCAL_ROLE
from augment.jobs.local import container_command
from augment.samples import list_samples, samples_dir
from tests.image import harness

pytestmark = [pytest.mark.image, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
AUGMENT = Path(sys.executable).with_name("augment")
SECRET = "augment-test-token-7f3e9c"
"""Put in the build's TORCH_INDEX_URL (as a private mirror's token would be): it must not reach the image."""


@pytest.fixture(scope="session")
def engine() -> engines.Engine:
    return harness.engine()


@pytest.fixture(scope="session")
def build(engine: engines.Engine) -> Iterator[dict]:
    """The image, built once: its name and what it was built with."""
    base = harness.base_image(engine)
    harness.fix_podman_settings(engine, base)
    with contextlib.ExitStack() as stack:
        index, network = os.environ.get("AUGMENT_TEST_TORCH_INDEX_URL"), None
        roots = [] if index else harness.local_indexes()
        if roots:  # wheels on this machine's disk, served on loopback: the build uses the host's network
            url = stack.enter_context(harness.serve_indexes(roots))
            index, network = url.replace("http://", f"http://ci:{SECRET}@"), "host"
        harness.reclaim(engine)
        harness.check_room(engine)
        args = ["--engine", engine.name, "--repository", harness.REPOSITORY, "--base-image", base]
        args += ["--torch-index-url", index] if index else []
        args += ["--network", network] if network else []
        started = time.monotonic()
        result = subprocess.run([str(AUGMENT), "image", "build", *args], capture_output=True, text=True,
                                timeout=3600)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        harness.log(f"built in {time.monotonic() - started:.0f} s")
        harness.keep_dependency_stage(engine, result.stdout + result.stderr)
        stack.callback(harness.reclaim, engine)  # this run's images, once every test is done
        names = result.stdout.strip().splitlines()[-2:]
        yield {"image": names[0], "names": names, "args": args, "output": result.stdout, "base": base,
               "index": index, "network": network}


@pytest.fixture(scope="session")
def image(build: dict) -> str:
    return build["image"]


def _inputs(root: Path, names: int = 1, bad: int = 0) -> Path:
    """The bundled photos, each under ``names`` names (half in a subfolder), and ``bad`` corrupt JPEGs."""
    root.mkdir(parents=True)
    for n in range(names):
        folder = root / ("nested" if n % 2 else "") / (f"n{n}" if n else "")
        folder.mkdir(parents=True, exist_ok=True)
        for name in list_samples():
            shutil.copyfile(samples_dir() / name, folder / name)
    for n in range(bad):
        (root / f"corrupt-{n}.jpg").write_bytes((samples_dir() / "coffee.jpg").read_bytes()[:300])
    return root


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path; the manifests' and excluded lists' lines
    sorted (hosts append in the order their workers finish), the timed summaries left out."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith("_augment/summary-"):
            continue
        data = path.read_bytes()
        files[rel] = b"".join(sorted(data.splitlines(keepends=True))) if rel.endswith(".jsonl") else data
    return files


def _summaries(folder: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((folder / "_augment").glob("summary-*.json"))}


# --- the build ------------------------------------------------------------------------------


def test_the_build_says_which_engine_built_what(build, engine):
    assert f"engine: {engine}" in build["output"]
    if build["network"]:  # the index URL carried a token: the printed command shows it redacted
        assert SECRET not in build["output"] and "TORCH_INDEX_URL=http://<redacted>@127.0.0.1" in build["output"]
    (built,) = [line for line in build["output"].splitlines() if line.startswith("built: ")]
    assert build["image"] in built and re.search(r"\(\d+\.\d\d GB\)", built)
    tag = container.image_tags()[0]
    assert build["names"] == [f"augment-test:{tag}", f"augment-test:{container.image_tags()[1]}"]
    labels = json.loads(subprocess.run(engine.cmd("image", "inspect", "--format", "{{json .Config.Labels}}",
                                                  build["image"]), capture_output=True, text=True).stdout)
    assert labels["org.opencontainers.image.revision"] == container.git_revision()
    assert container.entrypoint_of() == json.loads(subprocess.run(
        engine.cmd("image", "inspect", "--format", "{{json .Config.Entrypoint}}", build["image"]),
        capture_output=True, text=True).stdout)


def test_the_extension_check_reads_the_installed_package_and_fails_without_it(build, engine):
    """Run the Dockerfile's check where the build runs it (its package stage, its WORKDIR):
    it passes on the installed package, and fails once the extensions are taken out of the
    installed package, even with them put into the source tree at /src, where a check run
    from /src would find them (and where, without them, it failed every build)."""
    stage = "augment-test:package-stage"
    cmd = container.build_command("augment-test", ["package-stage"], engine=engine.name,
                                  base_image=build["base"], torch_index_url=build["index"], network=build["network"])
    cmd[-1:-1] = ["--target", "package"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)  # the build's layers, cached
    assert result.returncode == 0, result.stderr[-3000:]
    workdir, check = harness.extension_check()
    site = "/opt/venv/lib/python3.11/site-packages/augment"
    ok = subprocess.run(engine.cmd("run", "--rm", "--workdir", workdir, "--entrypoint", "sh", stage, "-c", check),
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    moved = f"mv {site}/_native*.so {site}/_jpeg*.so /src/augment/ && ls /src/augment/*.so >/dev/null"
    broken = subprocess.run(engine.cmd("run", "--rm", "--workdir", workdir, "--entrypoint", "sh", stage, "-c",
                                       f"{moved} && {check}"), capture_output=True, text=True)
    assert broken.returncode != 0, "the check passed on an installed package without its compiled extensions"
    assert "No module named 'augment._native'" in broken.stderr or "/src/" in broken.stderr, broken.stderr


def test_the_runtime_stage_holds_no_build_tools_and_nothing_secret(build, engine, image):
    tools = subprocess.run(engine.cmd(
        "run", "--rm", "--entrypoint", "sh", image, "-c",
        "for t in gcc cc c++ g++ clang make ld as cpp; do command -v $t; done; ls -d /usr/lib/gcc/* /src "
        "/root/.cache/pip /root/.aws 2>/dev/null; true"), capture_output=True, text=True)
    assert tools.returncode == 0 and tools.stdout.strip() == "", f"found in the runtime image:\n{tools.stdout}"
    inspect = subprocess.run(engine.cmd("image", "inspect", image), capture_output=True, text=True).stdout
    history = subprocess.run(engine.cmd("history", "--no-trunc", image), capture_output=True, text=True).stdout
    env = json.loads(inspect)[0]["Config"]["Env"]
    assert not [e for e in env if re.match(r"(AWS_|.*(SECRET|TOKEN|PASSWORD))", e.split("=")[0])], env
    assert "TORCH_INDEX_URL" not in history, "the build's index (and any token in it) stays in the build stages"
    if build["network"]:  # the build's index URL carried a token
        assert SECRET not in inspect and SECRET not in history
        grep = subprocess.run(engine.cmd("run", "--rm", "--entrypoint", "grep", image, "-rlI", SECRET, "/opt",
                                         "/etc", "/root", "/usr/local"), capture_output=True, text=True)
        assert grep.returncode == 1 and grep.stdout == "", f"the index token is in {grep.stdout}"


# --- jobs in the image ------------------------------------------------------------------------


def test_two_hosts_in_containers_write_what_the_host_writes_byte_for_byte(image, tmp_path):
    """``augment run --backend local --image`` against the same command without ``--image``:
    two instances sharing a sharded input, a bad input among them."""
    source = _inputs(tmp_path / "in", names=2, bad=1)
    (source / "notes.txt").write_text("not an image")
    outputs = {}
    for label, extra in (("image", ["--image", image]), ("host", [])):
        out = tmp_path / label
        result = subprocess.run(
            [str(AUGMENT), "run", "--backend", "local", "--mode", "sharded", "--instance-count", "2", "--spec",
             "light", "--input", str(source), "--output", str(out), "--max-error-rate", "0.5", *extra],
            capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        outputs[label] = out
        if extra:
            assert f"image:     {image}, each instance a container (" in result.stdout
    in_image, on_host = _files(outputs["image"]), _files(outputs["host"])
    assert in_image.keys() == on_host.keys() and len(in_image) > 30
    assert [k for k in in_image if in_image[k] != on_host[k]] == []
    summaries = _summaries(outputs["image"])
    assert [s["host"] for s in summaries.values()] == ["algo-1", "algo-2"]
    assert {s["input_dir"] for s in summaries.values()} == {"/opt/ml/processing/input/images"}, \
        "each host saw SageMaker's layout"
    assert sum(s["inputs"] for s in summaries.values()) == 2 * len(list_samples()) + 2
    assert sum(s["failed_inputs"] for s in summaries.values()) == 2, "the corrupt JPEG and the text file"


def _long_request(tmp_path: Path, image: str, output: Path):
    source = _inputs(tmp_path / "in", names=6)
    return build_request("light", str(source), str(output), image_uri=image, copies=12, workers=2)


def test_sigterm_stops_the_container_and_a_fresh_container_resumes_it(image, engine, tmp_path):
    """StopProcessingJob's SIGTERM to the container's PID 1 (``engine stop``): exit 143, the
    exit message, every record intact; the same container command with ``--resume`` in a
    new container finishes it, identical to an uninterrupted run."""
    request = _long_request(tmp_path, image, tmp_path / "stopped")
    job = LocalBackend(str(tmp_path / "work"), engine=engine.name).submit(request)
    root = tmp_path / "work" / request.job_name / "algo-1" / "opt" / "ml"
    manifest = root / "processing" / "output" / "_augment" / "manifest-algo-1.jsonl"
    deadline = time.monotonic() + 300
    while not (manifest.is_file() and manifest.read_text().count("\n") >= 20):
        assert time.monotonic() < deadline and job.status() == "InProgress", "\n".join(job.logs())
        time.sleep(0.1)
    job.stop()
    with pytest.raises(Exception, match="Stopped"):
        job.wait(timeout=120)
    host = job.describe()["LocalRuntime"]["hosts"]["algo-1"]
    assert host["exit_code"] == 143, "\n".join(job.logs())
    message = (root / "output" / "message").read_bytes()
    assert 0 < len(message) <= 1024 and message.startswith(b"stopped by SIGTERM after "), message
    done = manifest.read_text().splitlines()
    assert all(json.loads(line)["status"] == "ok" for line in done), "every record written whole"
    assert len(done) < len(list_samples()) * 6 * 12, "stopped part-way"

    resume = request.with_changes(arguments=(*request.arguments, "--resume"))
    resumed = subprocess.run(container_command(engine, resume, "algo-1", root), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    reference = tmp_path / "reference"
    description = run_local(_long_request(tmp_path / "again", image, reference), engine=engine.name,
                            log=io.StringIO())
    assert description["ProcessingJobStatus"] == "Completed"
    finished = _files(root / "processing" / "output")
    assert finished == _files(reference), "the resumed job equals an uninterrupted one"
    records = [json.loads(line) for line in finished["_augment/manifest-algo-1.jsonl"].splitlines()]
    assert Counter((r["source"], r["copy"]) for r in records).most_common(1)[0][1] == 1, "no duplicates"


def _by_hand(image: str, source: Path, output: Path, *arguments: str, spec: Path | None = None) -> JobRequest:
    """A request as plain SageMaker SDK code would send it: the launcher's checks (which
    refuse a bad spec before any job) are not in the way, so the container meets it."""
    inputs = [Input("images", str(source), "/opt/ml/processing/input/images")]
    if spec is not None:
        inputs.append(Input("spec", str(spec), "/opt/ml/processing/input/spec"))
    return JobRequest(job_name=f"by-hand-{output.name}", image_uri=image, role_arn=LOCAL_ROLE,
                      entrypoint=("augment", "process"), arguments=("--progress", "lines", *arguments),
                      inputs=tuple(inputs), outputs=(Output("output", "/opt/ml/processing/output", str(output)),))


def _failure(description: dict) -> tuple[int, str]:
    assert description["ProcessingJobStatus"] == "Failed"
    message = description["ExitMessage"]
    assert len(message.encode()) <= 1024 and message in description["FailureReason"]
    return description["LocalRuntime"]["hosts"]["algo-1"]["exit_code"], message


def test_a_bad_spec_and_too_many_bad_inputs_fail_with_the_exit_message_a_user_reads(image, engine, tmp_path):
    """What DescribeProcessingJob's ExitMessage would say, from the container's
    /opt/ml/output/message, with the exit status: the same as the job run as a process here."""
    source = _inputs(tmp_path / "in", bad=3)
    spec = tmp_path / "spec" / "bad.yaml"
    spec.parent.mkdir()
    spec.write_text("version: 1\nops:\n  - ColorJitter: {brightness: -3}\n")
    cases = {"spec": _by_hand(image, source, tmp_path / "out-spec", spec=spec.parent),
             "errors": _by_hand(image, source, tmp_path / "out-errors", "--spec", "light", "--max-error-rate", "0.1")}
    for name, request in cases.items():
        code, message = _failure(run_local(request, engine=engine.name, log=io.StringIO()))
        here_code, here = _failure(run_local(request.with_changes(job_name=f"{request.job_name}-here"),
                                             log=io.StringIO()))
        assert code == here_code == (2 if name == "spec" else 1), message
        if name == "spec":
            assert "ops[0].ColorJitter.brightness" in message and "invalid spec" in message, message
        else:
            assert "3 of 10 inputs failed" in message or "error rate" in message, message
        assert re.sub(r"/\S*/opt/ml", "/opt/ml", here) == message, "the same message as the job run here"


def test_notebook_01_builds_with_the_engine_here_and_tries_the_image(build, engine, tmp_path):
    """With an engine, notebook 01 builds for real (the layers come from the session's build),
    says which engine built how large an image, and runs the sample job in it."""
    from tests.test_notebooks import execute, output_text

    nb = execute("01_build_image.ipynb", tmp_path / "01.ipynb", dry_run=False, push=False, engine=engine.name,
                 repository="augment-test", base_image=build["base"], torch_index_url=build["index"],
                 network=build["network"])
    text = output_text(nb)
    assert f"container engine:  {engine}" in text and f"engine: {engine}" in text
    assert f"built: {', '.join(build['names'])} (" in text and "would run" not in text
    assert re.search(rf"Completed in [\d.]+ s: 14 outputs on 2 instances, each a container of {build['image']} "
                     rf"\({re.escape(str(engine))}\)", text), text[-3000:]
    assert SECRET not in text
