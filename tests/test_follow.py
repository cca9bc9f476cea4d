"""What notebooks do with a finished job (augment.jobs.follow), read through the storage
layer: the same results and preview from a folder output and from an S3 one (moto's server)."""

from __future__ import annotations

import boto3
import pytest

from augment.jobs import LocalBackend, build_request, preview, results
from augment.jobs.follow import host_summaries


@pytest.mark.parametrize("medium", ["folder", "s3"])
def test_results_and_preview_read_a_jobs_output_on_either_medium(medium, small_samples, tmp_path, request):
    if medium == "s3":
        bucket = request.getfixturevalue("bucket")
        s3 = boto3.client("s3")
        for path in sorted(small_samples.iterdir())[:3]:
            s3.upload_file(str(path), bucket, f"in/{path.name}")
        source, output = f"s3://{bucket}/in/", f"s3://{bucket}/out/"
    else:
        source, output = str(small_samples), str(tmp_path / "out")
    job = LocalBackend(workdir=str(tmp_path / "work")).submit(
        build_request("light", source, output, instance_count=2, mode="sharded", workers=1), attached=True)
    inputs = 3 if medium == "s3" else len(list(small_samples.iterdir()))
    found = results(job)
    assert found["status"] == "Completed" and found["hosts_reported"] == 2
    assert found["inputs"] == inputs and found["written"] == inputs * found["copies"] > inputs
    assert sorted(host_summaries(output)) == ["algo-1", "algo-2"]
    assert preview(job, n=2) is not None


def test_preview_of_an_output_without_a_manifest_says_so(tmp_path, capsys):
    class Unfinished:
        request = build_request("light", str(tmp_path), str(tmp_path / "out"))

        def outputs(self) -> list[str]:
            return [str(tmp_path / "out")]

    assert preview(Unfinished()) is None
    assert f"no manifest under {tmp_path / 'out'}" in capsys.readouterr().out
