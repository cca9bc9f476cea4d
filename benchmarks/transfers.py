"""How long the local runtime takes to stage and upload many small objects, one at a time
against several in flight (``augment.jobs.local.TRANSFERS``), in the same run.

    python benchmarks/transfers.py [--objects 2000] [--rounds 3] [--json benchmarks/results/transfers-DATE.json]

The peer is moto's S3 server on loopback (no AWS here): every object is a real HTTP round
trip, though a loopback one, so the ratio shown understates what concurrency saves against
S3 itself, whose round trips are longer. The job is ``RandomHorizontalFlip`` on thumbnails,
so the time is the transfers' and the job's fixed start-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=2000, help="small JPEGs in the input (default 2000)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each setting (default 3; the median is shown)")
    ap.add_argument("--json", help="also write the figures there")
    args = ap.parse_args()

    import boto3
    import PIL.Image

    import augment.jobs.local as local
    from augment.jobs import build_request, run_local
    from augment.samples import list_samples, samples_dir
    from tests.aws import moto_server

    with moto_server(), tempfile.TemporaryDirectory() as tmp:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench")
        with PIL.Image.open(samples_dir() / list_samples()[0]) as img:
            img.thumbnail((32, 32))
            tiny = Path(tmp) / "tiny.jpg"
            img.convert("RGB").save(tiny, quality=80)
        data = tiny.read_bytes()
        local.each_concurrently([lambda i=i: s3.put_object(Bucket="bench", Key=f"in/{i:05d}.jpg", Body=data)
                                 for i in range(args.objects)])
        spec = Path(tmp) / "spec.yaml"
        spec.write_text("version: 1\nseed: 1\ncopies: 1\nops: [RandomHorizontalFlip]\n")
        times: dict[int, list[float]] = {1: [], local.TRANSFERS: []}
        for r in range(args.rounds):
            for transfers in times:
                local.TRANSFERS = transfers
                out = f"s3://bench/out-{transfers}-{r}/"
                request = build_request(str(spec), "s3://bench/in/", out, workers=1)
                start = time.perf_counter()
                status = run_local(request, workdir=Path(tmp) / f"w{transfers}-{r}")["ProcessingJobStatus"]
                times[transfers].append(time.perf_counter() - start)
                assert status == "Completed", status
                print(f"round {r + 1}: {transfers:>2} in flight: {times[transfers][-1]:.1f} s", flush=True)
    serial, concurrent = (statistics.median(times[k]) for k in times)
    result = {"objects": args.objects, "rounds": args.rounds, "seconds": {str(k): v for k, v in times.items()},
              "median_serial_s": serial, "median_concurrent_s": concurrent, "speedup": serial / concurrent}
    print(f"{args.objects:,} objects: one at a time {serial:.1f} s, {max(times)} in flight {concurrent:.1f} s: "
          f"{serial / concurrent:.1f}x faster")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
