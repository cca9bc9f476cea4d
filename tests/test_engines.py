"""Which container engine answers: Docker, else podman, judged by what their ``info`` says
(recording fakes on PATH stand for the real clients; tests/test_image.py uses a real one)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from augment import engines
from augment.errors import UsageError
from augment.jobs import Input, JobRequest, Output, run_local
from augment.samples import samples_dir

AUGMENT = Path(sys.executable).with_name("augment")
DOCKER_DOWN = {"ServerErrors": ["Cannot connect to the Docker daemon at unix:///var/run/docker.sock."],
               "ClientInfo": {"Version": "27.5.1"}}
PODMAN = {"host": {"security": {"rootless": True}}, "version": {"Version": "5.2.0"}}


def _fake(folder: Path, name: str, info: dict | None, code: int = 0) -> None:
    """A ``name`` on PATH whose ``info`` prints ``info`` as JSON and exits ``code``."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f"#!{sys.executable}\nimport sys\nif sys.argv[1] == 'info':\n"
                      f"    print({json.dumps(json.dumps(info))} if {info is not None} else 'not json')\n"
                      f"    sys.exit({code})\nsys.exit(0)\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture()
def path(tmp_path, monkeypatch):
    """An empty PATH of fakes, and engines asked anew."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    engines._cached.cache_clear()
    yield folder
    engines._cached.cache_clear()


def test_a_docker_client_whose_daemon_does_not_answer_is_no_engine_and_podman_is_taken(path):
    """Docker clients before 28.1 print ServerErrors and exit 0 when the daemon is down."""
    _fake(path, "docker", DOCKER_DOWN)
    assert engines.find("docker") is None
    _fake(path, "podman", PODMAN)
    found = engines.find()
    assert (found.name, found.version, found.rootless) == ("podman", "5.2.0", True)
    assert str(found) == "podman 5.2.0"


def test_docker_that_answers_comes_first_and_says_whether_it_is_rootless(path):
    _fake(path, "podman", PODMAN)
    _fake(path, "docker", {"ServerVersion": "28.2.2", "SecurityOptions": ["name=seccomp", "name=rootless"]})
    assert engines.find() == engines.Engine("docker", "28.2.2", rootless=True)
    assert engines.find("podman").name == "podman", "a choice is honoured"


def test_podman_behind_a_docker_command_keeps_podmans_rootless_flag(path):
    """podman-docker installs `docker` as podman: its info is podman's, and a rootless podman
    must not get --user (it would map to a sub-UID that cannot write the outputs)."""
    _fake(path, "docker", PODMAN)
    found = engines.find()
    assert (found.name, found.version, found.rootless) == ("docker", "5.2.0", True)


@pytest.mark.parametrize(("info", "code"), [(None, 0), ({"ServerVersion": ""}, 0), ({"ServerVersion": "1"}, 1)])
def test_no_answer_unreadable_info_or_a_failing_client_is_no_engine(path, info, code):
    _fake(path, "docker", info, code)
    assert engines.find() is None
    with pytest.raises(UsageError, match=r"building needs a container engine, and neither Docker nor podman answers "
                                         r"here .*\. Try this"):
        engines.require("auto", "building", hint="Try this")
    with pytest.raises(UsageError, match="engine must be one of auto, docker, podman"):
        engines.find("containerd")


def test_run_refuses_engine_without_image_and_a_missing_engine_before_listing_anything(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path / "none")}
    base = [str(AUGMENT), "run", "--backend", "local", "--spec", "light", "--input", str(samples_dir()),
            "--output", str(tmp_path / "out")]
    result = subprocess.run([*base, "--engine", "podman"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "--engine chooses what runs the --image of a local job" in result.stderr
    result = subprocess.run([*base, "--image", "augment:0.4.0"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2, result.stderr
    assert "needs a container engine, and neither Docker nor podman answers here" in result.stderr
    assert not (tmp_path / "out").exists(), "nothing written"


def test_a_stop_before_the_hosts_start_starts_none(tmp_path):
    request = JobRequest(job_name="stopped-early", image_uri="augment:test",
                         role_arn="arn:aws:iam::000000000000:role/x", arguments=("--spec", "light"),
                         inputs=(Input("images", str(samples_dir()), "/opt/ml/processing/input/images"),),
                         outputs=(Output("output", "/opt/ml/processing/output", str(tmp_path / "out")),))
    stop = threading.Event()
    stop.set()
    description = run_local(request, stop=stop, log=io.StringIO())
    assert description["ProcessingJobStatus"] == "Stopped"
    assert description["LocalRuntime"]["hosts"]["algo-1"]["exit_code"] == 143
    assert not list((tmp_path / "out").rglob("*.jpg")), "no host ran"
