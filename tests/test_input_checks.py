"""Inputs and outputs off the happy path (issue 20): each input is recorded once per
copy, done or failed with a reason that names the real cause."""

from __future__ import annotations

import io
import os
import socket
import stat
from pathlib import Path

import PIL.Image
import pytest

from augment.cli import main
from augment.engine import run_job
from augment.errors import UsageError
from augment.manifest import read_manifest


def _image(fmt: str, size: tuple[int, int] = (24, 16), **save: object) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new("RGB", size, (200, 80, 20)).save(buf, fmt, **save)
    return buf.getvalue()


def _run(spec: dict, inputs: Path, out: Path) -> dict[str, list[dict]]:
    run_job(spec, inputs, out, workers=1, progress="off", max_error_rate=1.0)
    by_source: dict[str, list[dict]] = {}
    for rec in read_manifest(out / "_augment" / "manifest-local.jsonl"):
        by_source.setdefault(rec["source"], []).append(rec)
    return by_source


def test_an_output_too_large_for_jpeg_names_the_cause_not_a_broken_stream(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jpg").write_bytes(_image("JPEG"))
    (inputs / "b.png").write_bytes(_image("PNG"))
    spec = {"version": 1, "copies": 2, "output": {"format": "same"}, "ops": [{"Resize": {"size": [8, 65535]}}]}
    records = _run(spec, inputs, tmp_path / "out")
    assert [r["status"] for r in records["b.png"]] == ["ok", "ok"]  # PNG holds it
    assert [r["reason"] for r in records["a.jpg"]] == ["too_large_for_format"] * 2
    assert records["a.jpg"][0]["error"] == ("the output is 65535x8 px; JPEG holds at most 65,500 px per side "
                                            "(make the ops' sizes smaller, or write format: png)")
    assert not any(p.name.startswith("a") for p in (tmp_path / "out").iterdir())


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
       b"newpath 0 0 moveto 16 16 lineto stroke showpage\n%%EOF\n")


def test_formats_outside_the_listed_ones_are_unsupported_and_run_no_program(tmp_path, monkeypatch):
    import subprocess

    import PIL.EpsImagePlugin

    ran: list[object] = []
    monkeypatch.setattr(PIL.EpsImagePlugin, "Ghostscript", lambda *a, **k: ran.append(a))  # what EPS would run
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: ran.append(a))
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "figure.eps").write_bytes(EPS)
    (inputs / "scan.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    (inputs / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    (inputs / "icon.tga").write_bytes(_image("TGA"))  # Pillow decodes TGA; the README does not list it
    (inputs / "notes.txt").write_bytes(b"hello")
    (inputs / "ok.gif").write_bytes(_image("GIF"))
    records = _run({"version": 1, "ops": []}, inputs, tmp_path / "out")
    reasons = {src: (recs[0]["reason"], recs[0]["error"]) for src, recs in records.items()}
    assert reasons["ok.gif"] == (None, None)
    assert reasons["notes.txt"][0] == "not_an_image"
    for src, name in (("figure.eps", "EPS"), ("scan.pdf", "PDF"), ("phone.heic", "HEIC"), ("icon.tga", "TGA")):
        assert reasons[src] == ("unsupported_format", f"a {name} file; inputs are decoded from JPEG, PNG, WebP, "
                                "BMP, TIFF and GIF only (convert it to one of them)"), src
    assert ran == []


@pytest.mark.parametrize("fmt", ["same", "jpeg"])
def test_an_mpo_camera_jpeg_stays_jpeg(tmp_path, fmt):
    first = PIL.Image.new("RGB", (40, 30), (200, 30, 30))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[PIL.Image.new("RGB", (40, 30), (30, 200, 30))])
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "stereo.jpg").write_bytes(buf.getvalue())
    assert PIL.Image.open(inputs / "stereo.jpg").format == "MPO"
    spec = {"version": 1, "copies": 2, "output": {"format": fmt, "keep_original": True},
            "ops": [{"RandomInvert": {"p": 0.0}}]}
    records = _run(spec, inputs, tmp_path / "out")["stereo.jpg"]
    assert sorted(r["output"] for r in records) == ["stereo.jpg.aug0.jpg", "stereo.jpg.aug1.jpg",
                                                    "stereo.jpg.orig.jpg"]
    for name in ("stereo.jpg.aug0.jpg", "stereo.jpg.aug1.jpg"):
        with PIL.Image.open(tmp_path / "out" / name) as img:
            assert img.format == "JPEG" and img.size == (40, 30)
            assert img.getpixel((20, 15))[1] < 128  # the first image (red), not the second (green)


# ---------------------------------------------------------------------------
# The input listing (issue 20.3, 20.16): nothing under the input is silently left out.

def _two_folders(tmp_path: Path) -> Path:
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    (inputs / "a.png").write_bytes(_image("PNG"))
    (inputs / "sub" / "b.png").write_bytes(_image("PNG"))
    return inputs


def _deny_listing(monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    """Make ``folder`` (a path's last part) unlistable, as chmod 000 does for a user
    other than root."""
    scandir = os.scandir

    def denied(path: object = ".") -> object:
        if os.fspath(path).endswith(folder):  # type: ignore[call-overload]
            raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore[call-overload]
        return scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", denied)


def test_a_folder_that_cannot_be_listed_is_named_with_the_callers_flag(tmp_path, monkeypatch):
    from augment.images import list_images

    inputs = _two_folders(tmp_path)
    _deny_listing(monkeypatch, "sub")
    with pytest.raises(UsageError, match=rf"^input_dir={inputs}: cannot list the folder 'sub' under the input"):
        list_images(inputs)
    with pytest.raises(UsageError, match=rf"^input={inputs}: cannot list the folder 'sub' under the input"):
        list_images(inputs, flag="input")
    from augment.preview import Images  # `augment preview` takes --input too

    with pytest.raises(UsageError, match=rf"^input={inputs}/: cannot list the folder 'sub' under the input"):
        Images(inputs).keys()


def test_augment_run_names_its_own_flag_for_an_input_it_cannot_list(tmp_path, monkeypatch, capsys):
    """`augment run` takes --input, not --input-dir."""
    inputs = _two_folders(tmp_path)
    _deny_listing(monkeypatch, "sub")
    code = main(["run", "--backend", "local", "--spec", "light", "--input", str(inputs), "--output",
                 str(tmp_path / "out"), "--workdir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--input {inputs}: cannot list the folder 'sub' under the input (Permission denied)" in err, err
    assert "--input-dir" not in err, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder anyway")
def test_an_unreadable_subfolder_is_an_error_naming_it(tmp_path):
    inputs = _two_folders(tmp_path)
    (inputs / "sub").chmod(0)
    try:
        with pytest.raises(UsageError, match=r"cannot list the folder 'sub' under the input \(Permission denied\)"):
            run_job({"version": 1, "ops": []}, inputs, tmp_path / "out", workers=1, progress="off")
    finally:
        (inputs / "sub").chmod(0o755)
    assert not (tmp_path / "out" / "_augment").exists()


def test_a_folder_that_cannot_be_listed_fails_the_job_before_any_work(tmp_path, monkeypatch):
    inputs = _two_folders(tmp_path)
    scandir = os.scandir

    def denied(path: object = ".") -> object:
        if os.fspath(path).endswith("sub"):  # type: ignore[call-overload]
            raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore[call-overload]
        return scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(UsageError, match=r"cannot list the folder 'sub' under the input \(Permission denied\); "
                                         r"make it readable \(chmod\), or move it out of the input"):
        run_job({"version": 1, "ops": []}, inputs, tmp_path / "out", workers=1, progress="off")
    assert not (tmp_path / "out" / "_augment").exists()
    monkeypatch.setattr(os, "scandir", scandir)
    main_args = ["process", "--spec", str(tmp_path / "s.yaml"), "--input-dir", str(inputs), "--output-dir",
                 str(tmp_path / "out2"), "--workers", "1"]
    (tmp_path / "s.yaml").write_text("version: 1\nops: []\n")
    monkeypatch.setattr(os, "scandir", denied)
    assert main(main_args) == 2


def test_links_out_of_the_input_and_special_files_are_recorded_never_read_or_skipped(tmp_path):
    inputs = _two_folders(tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(_image("PNG"))
    (inputs / "inside.png").symlink_to(inputs / "sub" / "b.png")  # within the root: followed
    (inputs / "outside.png").symlink_to(secret)
    (inputs / "passwd").symlink_to("/etc/passwd")
    (inputs / "up").symlink_to(tmp_path)  # a folder outside
    (inputs / "sublink").symlink_to(inputs / "sub")  # a folder inside: not followed, said so
    (inputs / "loop1").symlink_to(inputs / "loop2")
    (inputs / "loop2").symlink_to(inputs / "loop1")
    (inputs / "dangling.png").symlink_to(inputs / "nothing.png")
    os.mkfifo(inputs / "pipe.png")  # a reader would wait forever for a writer
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(inputs / "sock.png"))
    try:
        records = _run({"version": 1, "ops": []}, inputs, tmp_path / "out")
    finally:
        sock.close()
    reasons = {src: recs[0]["reason"] for src, recs in records.items()}
    assert reasons == {
        "a.png": None, "sub/b.png": None, "inside.png": None,
        "outside.png": "outside_input", "passwd": "outside_input", "up": "outside_input",
        "sublink": "not_a_file", "pipe.png": "not_a_file", "sock.png": "not_a_file",
        "loop1": "broken_link", "loop2": "broken_link", "dangling.png": "broken_link",
    }  # fmt: skip
    errors = {src: recs[0]["error"] for src, recs in records.items()}
    assert errors["passwd"] == "a link to /etc/passwd, outside the input folder (not read)"
    assert errors["pipe.png"] == "a FIFO (named pipe) (not read)"
    assert errors["sublink"] == "a folder behind a link (not followed) (not read)"
    assert all(recs[0]["source_sha256"] is None for src, recs in records.items() if reasons[src])


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device needs root")
def test_a_device_under_the_input_is_recorded(tmp_path):
    inputs = _two_folders(tmp_path)
    os.mknod(inputs / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    records = _run({"version": 1, "ops": []}, inputs, tmp_path / "out")
    assert (records["null"][0]["reason"], records["null"][0]["error"]) == ("not_a_file",
                                                                          "a character device (not read)")


def test_the_local_runtime_stages_links_and_fifos_as_they_are_never_their_targets(tmp_path):
    from augment.jobs.local import _input_objects, _stage
    from augment.jobs.request import Input

    inputs = _two_folders(tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(_image("PNG"))
    (inputs / "inside.png").symlink_to(inputs / "sub" / "b.png")
    (inputs / "outside.png").symlink_to(secret)
    (inputs / "dangling.png").symlink_to(inputs / "nothing.png")
    os.mkfifo(inputs / "pipe.png")
    inp = Input("images", str(inputs), "/opt/ml/processing/input")
    objects = _input_objects(inp)
    assert sorted(o.rel for o in objects) == ["a.png", "dangling.png", "inside.png", "outside.png", "pipe.png",
                                              "sub/b.png"]
    host = tmp_path / "host"
    assert _stage(inp, host, 0, 1, objects) == 6
    staged = host / "processing" / "input"
    assert (staged / "inside.png").read_bytes() == (inputs / "sub" / "b.png").read_bytes()  # followed inside
    assert os.readlink(staged / "outside.png") == str(secret)  # never a copy of the target
    records = _run({"version": 1, "ops": []}, staged, tmp_path / "out")
    assert {src: recs[0]["reason"] for src, recs in records.items()} == {
        "a.png": None, "sub/b.png": None, "inside.png": None, "outside.png": "outside_input",
        "dangling.png": "broken_link", "pipe.png": "not_a_file"}


def test_batched_mode_reads_a_local_folder_as_a_job_does(tmp_path, capsys):
    """Batched mode listed a local input with rglob and staged its ManifestFile with a plain
    copy: a link out of the input was copied (its target read and hashed), and a FIFO was
    left out of every batch with nothing said."""
    from augment.cli import main
    from augment.manifest import iter_manifest

    inputs = _two_folders(tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(_image("PNG"))
    (inputs / "outside.png").symlink_to(secret)
    (inputs / "dangling.png").symlink_to(inputs / "nothing.png")
    os.mkfifo(inputs / "pipe.png")
    out = tmp_path / "out"
    code = main(["run", "--mode", "batched", "--batch-size", "2", "--input", str(inputs), "--output", str(out),
                 "--spec", "light", "--copies", "1", "--workers", "1", "--max-error-rate", "1"])
    assert code == 0, capsys.readouterr().err
    records = [r for m in sorted(out.glob("batch-*/_augment/manifest-*.jsonl")) for r in iter_manifest(m)]
    assert {r["source"]: r["reason"] for r in records} == {
        "a.png": None, "sub/b.png": None, "outside.png": "outside_input", "dangling.png": "broken_link",
        "pipe.png": "not_a_file"}
    assert len(records) == 5 and all(r["source_sha256"] is None for r in records if r["reason"])


def test_the_preview_reads_inputs_as_the_job_does(tmp_path):
    from augment.preview import render

    inputs = _two_folders(tmp_path)
    os.mkfifo(inputs / "pipe.png")  # would block a plain open()
    (inputs / "passwd").symlink_to("/etc/passwd")
    spec = {"version": 1, "output": {"format": "same"}, "ops": [{"Resize": {"size": [8, 65535]}}]}
    (inputs / "c.jpg").write_bytes(_image("JPEG"))
    preview = render(spec, str(inputs), paths=["pipe.png", "passwd", "c.jpg", "a.png"])
    assert {i.rel_path: i.reason for i in preview.items} == {
        "pipe.png": "not_a_file", "passwd": "outside_input", "c.jpg": "too_large_for_format", "a.png": None}
