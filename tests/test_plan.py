"""The planner: its arithmetic against hand-computed cases, the 1,000,000-image plan, prices
(the Price List API through botocore's Stubber, the dated offline table), bad input, the
guard rails on moto's server, and estimate against actual after a local-runtime job."""

from __future__ import annotations

import heapq
import io
import json
import math
import re
import threading

import boto3
import pytest
from botocore.stub import Stubber

import augment.plan as plan
from augment import cli
from augment.errors import JobFailed, UsageError
from augment.jobs import LocalBackend, build_request, launch, run_local
from augment.jobs.sagemaker import SageMakerBackend
from augment.plan import _data, _estimate, _measure, _model, _plan, _plot
from augment.samples import list_samples, samples_dir
from augment.spec import load_spec
from tests.aws import recorded

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/augment:0.1.0"
LIGHT = load_spec("light")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own empty throughput cache."""
    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _offline(**kwargs):
    return plan.estimate("light", prices="offline", **kwargs)


VOLUME_USD_PER_S = 30 * 0.14 / (730 * 3600)
"""A 30 GB volume (the least a launch asks for) at $0.14 per GB-month, per second of an instance."""


def _usd(instance_s: float, usd_per_h: float, volume_gb: int = 30) -> float:
    """The bill of ``instance_s`` instance-seconds: the instances and their volumes."""
    return instance_s * (usd_per_h / 3600 + volume_gb * 0.14 / (730 * 3600))


# --- the arithmetic, by hand ---------------------------------------------------------------


def test_standalone_by_hand():
    t = plan.standalone(1000, 2, rate=10.0, startup_s=300.0)  # 2000 outputs at 10/s: 200 s of work
    assert (t.jobs, t.instances, t.wall_s, t.billed_instance_s, t.startup_instance_s) == (1, 1, 500.0, 500.0, 300.0)


def test_one_sharded_job_over_several_instances_by_hand():
    t = plan.sharded(1000, 2, 3, rate=10.0, startup_s=300.0)
    # round-robin: the largest share has ceil(1000 / 3) = 334 images, 668 outputs, 66.8 s
    assert t.jobs == 1 and t.instances == 3
    assert t.wall_s == pytest.approx(366.8)
    assert t.billed_instance_s == pytest.approx(3 * 366.8), "every instance billed until the job ends"
    assert t.startup_instance_s == pytest.approx(900.0), "start-up paid once per instance, one job"


def _simulate_group(durations: list[float], in_flight: int) -> float:
    """JobGroup's policy, event by event: the next job starts when one of ``in_flight`` ends."""
    ends: list[float] = []
    for d in durations:
        start = heapq.heappop(ends) if len(ends) == in_flight else 0.0
        heapq.heappush(ends, start + d)
    return max(ends)


@pytest.mark.parametrize(("in_flight", "wall"), [
    (1, 7 * 325.6 + 320.8),  # one job at a time: every start-up in a row
    (3, 3 * 325.6),  # rounds of 3: jobs 0-2, 3-5, then 6 (full) beside 7 (the short one)
    (4, 2 * 325.6),
    (8, 325.6),  # all at once
])  # fmt: skip
def test_the_per_128_loop_by_hand(in_flight, wall):
    # 1000 images, 2 copies, 128 per job: 8 jobs, 7 of 128 (25.6 s of work each) and one of 104 (20.8 s)
    t = plan.batched(1000, 2, 128, in_flight, rate=10.0, startup_s=300.0)
    assert t.jobs == 8 and t.instances == min(in_flight, 8)
    assert t.wall_s == pytest.approx(wall)
    assert t.wall_s == pytest.approx(_simulate_group([325.6] * 7 + [320.8], in_flight))
    assert t.billed_instance_s == pytest.approx(8 * 300 + 200), "every job pays the start-up"
    assert t.startup_instance_s == pytest.approx(2400.0)


@pytest.mark.parametrize(("images", "batch", "in_flight"), [(1, 128, 1), (129, 128, 2), (5000, 100, 7),
                                                              (1001, 10, 13), (640, 128, 5)])
def test_the_batched_formula_matches_a_simulation(images, batch, in_flight):
    t = plan.batched(images, 3, batch, in_flight, rate=7.0, startup_s=111.0)
    jobs = math.ceil(images / batch)
    durations = [111.0 + min(batch, images - j * batch) * 3 / 7.0 for j in range(jobs)]
    assert t.jobs == jobs
    assert t.wall_s == pytest.approx(_simulate_group(durations, in_flight))


def test_prefetch_by_hand():
    # 512 images, 128 per job, 2 ahead: 4 jobs of 100 + 12.8 s
    fast = plan.prefetch(512, 1, 128, 2, rate=10.0, startup_s=100.0)
    assert (fast.jobs, fast.instances) == (4, 2)
    assert fast.wall_s == pytest.approx(225.6), "a consumer that takes no time: two rounds of two"
    assert fast.stall_s == pytest.approx(225.6)
    assert fast.billed_instance_s == pytest.approx(4 * 100 + 51.2)
    almost = plan.prefetch(512, 1, 128, 2, rate=10.0, startup_s=100.0, consume_s=1e-9)
    assert (almost.wall_s, almost.stall_s) == pytest.approx((fast.wall_s, fast.stall_s)), "the loop agrees"
    slow = plan.prefetch(512, 1, 128, 2, rate=10.0, startup_s=100.0, consume_s=200.0)
    # batch 0 ready at 112.8; batch 2 submitted then, ready at 225.6; batch 1 asked at 312.8 (ready);
    # batch 3 submitted at 312.8, ready at 425.6; asked at 712.8; the consumer is done at 912.8
    assert slow.wall_s == pytest.approx(912.8)
    assert slow.stall_s == pytest.approx(112.8), "only the first batch is waited for"
    assert slow.billed_instance_s == fast.billed_instance_s


def test_an_option_is_the_arithmetic_times_the_instance_and_the_price():
    p = _offline(images=1000, throughput=5.0, startup_s=300, modes=["standalone", "sharded", "batched"],
                 instance_types=["ml.m5.large"], instance_counts=[2])
    standalone, sharded, batched = p.options
    rate = 5.0 * 2  # per vCPU x 2 vCPUs (one worker each)
    assert standalone.throughput_img_s == rate
    assert standalone.wall_s == pytest.approx(300 + 2000 / rate)
    assert standalone.cost_usd == pytest.approx(_usd(300 + 200, 0.115))
    assert standalone.volume_cost_usd == pytest.approx((300 + 200) * VOLUME_USD_PER_S)
    assert sharded.wall_s == pytest.approx(300 + 1000 / rate)
    assert sharded.cost_usd == pytest.approx(_usd(2 * (300 + 100), 0.115))
    assert batched.jobs == 8 and batched.instance_count == 2
    assert batched.billed_instance_s == pytest.approx(8 * 300 + 200)
    assert batched.startup_share == pytest.approx(2400 / 2600)
    assert standalone.cost_usd_low < standalone.cost_usd < standalone.cost_usd_high
    assert standalone.wall_s_low == pytest.approx(120 + 200), "low: the least start-up (given throughput)"
    assert standalone.wall_s_high == pytest.approx(480 + 200)


# --- 1,000,000 images on ml.t3.medium ----------------------------------------------------


def test_a_million_images_per_128_loop_beside_one_sharded_job():
    p = _offline(images=1_000_000, throughput=50.0, modes=["batched", "sharded"], instance_types=["ml.t3.medium"],
                 instance_counts=[1, 4])
    loop_1, loop_4, sharded = p.options
    assert [o.mode for o in p.options] == ["batched", "batched", "sharded"]
    # t3.medium: 2 vCPUs at their 20% baseline: 50 x 2 x 0.2 = 20 outputs/s; 2,000,000 outputs
    assert sharded.throughput_img_s == pytest.approx(20.0) and sharded.burst_img_s == pytest.approx(100.0)
    assert loop_1.jobs == loop_4.jobs == 7813 == math.ceil(1_000_000 / 128)
    assert sharded.jobs == 1 and sharded.instance_count == 4
    assert loop_1.billed_instance_s == pytest.approx(7813 * 300 + 100_000)
    assert loop_1.cost_usd == pytest.approx(_usd(7813 * 300 + 100_000, 0.05))
    assert loop_4.cost_usd == loop_1.cost_usd, "more jobs in flight: sooner, not cheaper"
    # the last batch has 1,000,000 - 7,812 x 128 = 64 images and runs alone in the last round
    assert loop_4.wall_s == pytest.approx(1953 * (300 + 128 * 2 / 20) + 300 + 64 * 2 / 20)
    assert loop_1.wall_s == pytest.approx(7812 * (300 + 128 * 2 / 20) + 300 + 64 * 2 / 20)
    assert sharded.wall_s == pytest.approx(300 + 250_000 * 2 / 20)
    # each instance holds 250,000 inputs of an assumed 128 KiB and 2 outputs each of 1.5x: 4 x 30.5 GiB x 1.25 + 1
    assert sharded.disk_need_gb == math.ceil(250_000 * 128 * 1024 * 4 / 2**30 * 1.25 + 1) == 154
    assert sharded.cost_usd == pytest.approx(_usd(4 * 25_300, 0.05, volume_gb=154))
    assert loop_1.volume_gb == 30, "a batch of 128 images needs less than the least volume"
    assert loop_1.startup_share == pytest.approx(7813 * 300 / (7813 * 300 + 100_000))
    assert loop_1.startup_share > 0.95 and sharded.startup_share < 0.05
    assert loop_1.cost_usd > 15 * sharded.cost_usd, "the sharded volumes (154 GB each) are a third of its bill"
    assert p.best is sharded and "sharded 4 x ml.t3.medium" in p.reason
    text = str(p)
    assert "7,813" in text and "*2" in text and "offline table dated 2026-12-02" in text
    assert "ml.t3.medium (burstable): sustained 20 images/s per instance at its CPU baseline (20%), 100 at full" \
        in text, "the burstable assumption and the sustained figure are stated"
    assert " 96% " in text and " 1% " in text, "the start-up shares"
    assert _plan.percent(0.9989) == "99.9%" and _plan.percent(1.0) == "100%", "never rounded up to all of it"



def test_the_estimate_its_result_and_its_plot_are_modules_of_their_own(tmp_path, monkeypatch):
    """estimate (_estimate) returns a Plan (_plan), drawn by _plot: the names the planner had
    in _estimate still answer there, and Plan.plot is _plot.draw."""
    homes = {"MODES": _model, "Option": _plan, "Plan": _plan, "html_list": _plan, "html_table": _plan,
             "text_table": _plan, "usd": _plan, "check_plot_path": _plot}
    for name, home in homes.items():
        assert getattr(_estimate, name) is getattr(home, name) is getattr(plan, name, getattr(home, name)), name
    drawn = []
    monkeypatch.setattr(_plan, "draw", lambda p, path: drawn.append((p, path)) or "figure")
    p = _offline(images=10, modes=["standalone"], instance_types=["ml.m5.large"])
    assert p.plot(tmp_path / "x.png") == "figure" and drawn == [(p, tmp_path / "x.png")]

# --- recommendation, limits, memory --------------------------------------------------------


def test_the_deadline_quota_and_cost_limit_shape_the_recommendation():
    base = dict(images=100_000, throughput=20.0, modes=["standalone", "sharded"], instance_types=["ml.m5.large"],
                instance_counts=[2, 8])
    cheapest = _offline(**base)
    assert cheapest.best.mode == "standalone"
    fast = _offline(**base, deadline="1h")
    assert fast.best.mode == "sharded" and fast.best.wall_s <= 3600
    assert not fast.option("standalone").meets_deadline
    assert fast.best.instance_count == 2, "the cheapest of those that meet the deadline"
    quota = _offline(**base, deadline="20m", quota=4)
    assert not quota.option("sharded", instance_count=8).within_quota
    assert quota.recommended is None and "no option meets the deadline 20m and the quota 4" in quota.reason
    capped = _offline(images=1000, modes=["batched"], instance_types=["ml.m5.large"], max_in_flight=10, quota=3)
    assert capped.options[0].instance_count == 3, "batched never runs more jobs at once than the quota"
    costly = _offline(**base, max_cost=0.001)
    assert costly.recommended is None and not any(o.within_max_cost for o in costly.options)


def test_a_plan_that_does_not_fit_in_memory_proposes_fewer_workers(cache):
    _model.record(LIGHT.digest, per_vcpu=10.0, peak_worker_mb=2500.0, source="test: 6 MP photos")
    p = _offline(images=100, modes=["standalone"], instance_types=["ml.t3.medium", "ml.m5.xlarge"])
    small, big = p.options
    assert not small.memory_fits and small.proposed_workers == 1, "2 x 2500 MB > 4 GiB less the reserve"
    assert small.throughput_img_s == pytest.approx(10.0 * 1 * 0.2), "estimated with the worker count that fits"
    assert "--workers 1" in small.notes[0] and "memory: 1 workers" in str(p)
    assert big.memory_fits and big.workers == 4
    assert p.assumptions["throughput_source"].startswith("measured")


def test_durations():
    assert [plan.parse_duration(t) for t in ("90m", "2h", "1h30m", "3600", "45s", "1d", 120)] == \
        [5400, 7200, 5400, 3600, 45, 86400, 120]
    for bad in ("1x", "", "h", "-5", "0"):
        with pytest.raises(UsageError, match=r"^deadline="):
            plan.parse_duration(bad)


# --- bad input names its flag -----------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--images", "-5"], "--images: must be in [1, 1000000000000], got -5"),
    (["--instance-count", "-2"], "--instance-count: must be >= 1, got -2"),
    (["--instance-type", "ml.m5.larg"], "--instance-type: unknown instance type 'ml.m5.larg'; did you mean ml.m5.lar"),
    (["--deadline", "soon"], "--deadline: cannot read 'soon' as a duration"),
    (["--batch-size", "0"], "--batch-size: must be in [1, 1000000000000], got 0"),
    (["--quota", "0"], "--quota: must be >= 1"),
    (["--max-in-flight", "-1"], "--max-in-flight: must be >= 1"),
    (["--mode", "sharded", "--instance-count", "101"], "a sharded job has at most 100 instances"),
])  # fmt: skip
def test_bad_input_exits_2_naming_the_flag(args, message, capsys):
    assert cli.main(["plan", "--prices", "offline", *args]) == 2
    assert message in capsys.readouterr().err


def test_unknown_instance_types_suggest_close_names():
    with pytest.raises(UsageError, match=r"^instance_types=: unknown instance type 'ml\.c5\.xlarg'; did you mean "
                       r"ml\.c5\.xlarge"):
        plan.estimate("light", images=10, instance_types=["ml.c5.xlarg"], prices="offline")


# --- prices ---------------------------------------------------------------------------------


def _price_list_item(name: str, usd: str, component: str = "Processing") -> str:
    """One GetProducts PriceList entry, shaped as the Price List API documents it (a JSON string
    per product: product attributes, OnDemand terms with hourly priceDimensions)."""
    sku = "TESTSKU" + component.upper()[:6]
    return json.dumps({
        "product": {"productFamily": "ML Instance", "sku": sku, "attributes": {
            "servicecode": "AmazonSageMaker", "servicename": "Amazon SageMaker", "location": "US East (N. Virginia)",
            "locationType": "AWS Region", "regionCode": "us-east-1", "instanceName": name,
            "instanceType": f"{name}-{component}", "platoinstancetype": component, "component": component,
            "usagetype": f"USE1-{component}:{name}", "operation": "RunInstance", "vCpu": "2", "memory": "8 GiB"}},
        "serviceCode": "AmazonSageMaker",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "termAttributes": {},
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7", "unit": "Hrs", "beginRange": "0", "endRange": "Inf",
                "description": f"${usd} per On Demand {component} {name} instance hour", "appliesTo": [],
                "pricePerUnit": {"USD": usd}}}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })  # fmt: skip


def _stubbed_pricing(answers: dict[str, list[str]]) -> tuple[object, Stubber]:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    for name, items in answers.items():
        filters = [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in (
            ("productFamily", "ML Instance"), ("regionCode", "us-east-1"), ("instanceName", name),
            ("platoinstancetype", "Processing"))]  # fmt: skip
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": items},
                          {"ServiceCode": "AmazonSageMaker", "Filters": filters, "FormatVersion": "aws_v1",
                           "MaxResults": 10})
    return client, stub


def test_prices_come_from_the_price_list_api():
    # a Hosting product slipped into the answer must not price a Processing job
    client, stub = _stubbed_pricing({"ml.c5.xlarge": [_price_list_item("ml.c5.xlarge", "0.2380000000")],
                                     "ml.m5.large": [_price_list_item("ml.m5.large", "9.9990000000", "Hosting"),
                                                     _price_list_item("ml.m5.large", "0.1340000000")]})
    with stub:
        p = plan.estimate("light", images=3600, throughput=1.0, modes=["standalone"], startup_s=0,
                          instance_types=["ml.m5.large", "ml.c5.xlarge"], prices="api", pricing_client=client,
                          region="us-east-1")
        stub.assert_no_pending_responses()
    m5, c5 = p.options
    assert m5.price_usd_per_h == 0.134 and c5.price_usd_per_h == 0.238
    assert m5.price_source == "AWS Price List API (us-east-1, Processing, On-Demand)"
    assert m5.cost_usd == pytest.approx(_usd(7200 / 2, 0.134)), "3600 images x 2 copies at 2 images/s"
    assert "offline" not in p.assumptions["price_source"]


def test_the_offline_table_is_used_and_dated_when_the_api_fails():
    client, stub = _stubbed_pricing({})
    stub.add_client_error("get_products", "AccessDeniedException", "not authorized to perform pricing:GetProducts")
    with stub:
        p = plan.estimate("light", images=10, modes=["standalone"], instance_types=["ml.t3.medium"],
                          prices="auto", pricing_client=client, region="us-east-1")
    o = p.options[0]
    assert o.price_usd_per_h == 0.05
    assert o.price_source.startswith("offline table 2026-12-02 (us-east-1; third-party price table, unverified")
    assert p.assumptions["price_source"].startswith("AWS Price List API unavailable (AccessDeniedException); offline "
                                                    "table dated 2026-12-02")
    assert "2026-12-02" in str(p) and "2026-12-02" in p._repr_html_()
    client, stub = _stubbed_pricing({})
    stub.add_client_error("get_products", "AccessDeniedException", "denied")
    with stub, pytest.raises(UsageError, match=r"^prices=api: "):
        plan.estimate("light", images=10, modes=["standalone"], instance_types=["ml.t3.medium"], prices="api",
                      pricing_client=client)
    other = plan.estimate("light", images=10, modes=["standalone"], instance_types=["ml.m5.large"],
                          prices="offline", region="eu-west-1")
    assert "us-east-1 figure used for eu-west-1" in other.options[0].price_source


def test_every_offline_price_is_labelled():
    for name, entry in _data.table()["instances"].items():
        assert entry["vcpu"] >= 1 and entry["memory_gib"] > 0, name
        if "price" in entry:
            assert "unverified" in entry["price_source"], name
    assert {n: _data.table()["instances"][n]["price"] for n in ("ml.t3.medium", "ml.m5.large", "ml.m5.xlarge",
            "ml.c5.xlarge", "ml.c5.2xlarge", "ml.g4dn.xlarge")} == {  # the figures collected from price tables
        "ml.t3.medium": 0.05, "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.c5.xlarge": 0.204,
        "ml.c5.2xlarge": 0.408, "ml.g4dn.xlarge": 0.736}  # fmt: skip


# --- output shapes ---------------------------------------------------------------------------


def test_json_html_and_plot(tmp_path, capsys):
    import matplotlib.pyplot as plt

    assert cli.main(["plan", "--images", "5000", "--prices", "offline", "--json", "--plot",
                     str(tmp_path / "plan.png")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"options", "recommended", "assumptions"}
    required = {"mode", "instance_type", "instance_count", "jobs", "wall_s", "billed_instance_s", "cost_usd",
                "startup_share", "throughput_img_s", "throughput_source", "price_usd_per_h", "price_source"}
    assert all(required <= set(o) for o in data["options"])
    assert {o["mode"] for o in data["options"]} == set(plan.MODES)
    assert len({o["instance_type"] for o in data["options"]}) == len(plan.DEFAULT_TYPES)
    best = data["options"][data["recommended"]]
    assert best["cost_usd"] == min(o["cost_usd"] for o in data["options"])
    assert (tmp_path / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == [], "no figure left open"

    p = _offline(images=5000)
    html = p._repr_html_()
    assert html.count("<tr") == len(p.options) + 1
    assert html.count("background-color") == 1 and f"<td>*{p.recommended}</td>" in html
    fig = p.plot()
    lines = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert {f"{m} ml.m5.large" for m in ("sharded", "batched", "prefetch")} <= lines
    assert plt.get_fignums() == []


# --- guard rails ------------------------------------------------------------------------------


class _CountingBackend(LocalBackend):
    """The local backend, noting the most jobs running at once."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list = []
        self.most = 0
        self.lock = threading.Lock()

    def submit(self, request):
        with self.lock:
            running = sum(j.status() not in ("Completed", "Failed", "Stopped") for j in self.jobs)
            self.most = max(self.most, running + 1)
            job = super().submit(request)
            self.jobs.append(job)
            return job


@pytest.mark.slow
def test_batched_launch_never_exceeds_the_quota(tmp_path, small_samples):
    backend = _CountingBackend()
    report = launch(backend, "light", str(small_samples), str(tmp_path / "out"), mode="batched", batch_size=4,
                    max_in_flight=4, quota=1, workers=1, poll=0.05, progress="off")
    assert len(report.batches) == math.ceil(len(list_samples()) / 4) and not report.failed
    assert backend.most == 1


# --- after a job: estimate against actual -----------------------------------------------------


def test_compare_after_a_local_job_and_the_next_estimate_uses_it(tmp_path, small_samples, capsys):
    before = _offline(images=1000, modes=["standalone"], instance_types=["ml.m5.large"])
    assert before.assumptions["throughput_source"].startswith("default")
    description = run_local(build_request("light", str(small_samples), str(tmp_path / "out"), workers=1,
                                          instance_type="ml.m5.large"), log=io.StringIO())
    summary = description["LocalRuntime"]["hosts"]["algo-1"]["summary"]
    comparison = plan.compare(description)
    assert comparison.runtime == "local runtime" and comparison.job == description["ProcessingJobName"]
    assert comparison.actual["work_s"] == summary["seconds"]
    total = (description["ProcessingEndTime"] - description["CreationTime"]).total_seconds()
    assert comparison.actual["total_s"] == pytest.approx(total)
    assert comparison.actual["startup_s"] == pytest.approx(total - summary["seconds"])
    assert comparison.estimated["startup_s"] == 300.0, "the estimate made before the job's figures were stored"
    assert comparison.estimated["total_s"] == pytest.approx(comparison.option.wall_s)
    assert comparison.option.throughput_source.startswith("default")
    measured = summary["images_per_s"]  # its images over its seconds, on one worker: one vCPU
    assert comparison.per_vcpu == pytest.approx(measured)
    text = str(comparison)
    assert all(phase in text for phase in ("start-up", "work", "total")) and "local runtime" in text
    assert "<table " in comparison._repr_html_() and "<td>work</td>" in comparison._repr_html_()

    # 7 inputs x 2 copies in well under a second measure the job's fixed costs, not its throughput
    assert summary["written"] < _measure.MIN_MEASURED_OUTPUTS
    assert comparison.recorded_to is None and "not stored for the next plan: 14 outputs in" in text
    after = _offline(images=1000, modes=["standalone"], instance_types=["ml.m5.large"])
    assert after.assumptions["throughput_source"].startswith("default"), "a tiny job does not move the next plan"

    saved = tmp_path / "job.json"
    saved.write_text(json.dumps(description, default=str) + "\n")  # as `augment run --json > job.json`
    assert cli.main(["plan", "--compare", str(saved), "--json", "--prices", "offline"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["actual"]["work_s"] == summary["seconds"] and shown["recorded_to"] is None


def _local_description(status: str = "Completed", seconds: float = 50.0, written: int = 1000, total_s: float = 90.0,
                       name: str = "augment-standalone-x") -> dict:
    """The local runtime's description of a finished job, with one host's summary (the shape `augment run --json`
    writes)."""
    import datetime as dt

    created = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    summary = {"host": "algo-1", "status": "completed" if status == "Completed" else "failed", "inputs": written // 2,
               "copies": 2, "written": written, "seconds": seconds, "images_per_s": written / seconds, "workers": 2,
               "peak_worker_rss_mb": 300.0, "spec_digest": LIGHT.digest}
    return {"ProcessingJobName": name, "ProcessingJobStatus": status, "CreationTime": created.isoformat(),
            "ProcessingEndTime": (created + dt.timedelta(seconds=total_s)).isoformat(),
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 30}},
            "LocalRuntime": {"hosts": {"algo-1": {"summary": summary}}}}


def test_compare_stores_a_job_once_and_only_a_completed_measurable_one(cache):
    job = _local_description()
    for _ in range(3):
        assert plan.compare(job).recorded_to
    cached = json.loads((cache / "throughput.json").read_text())["specs"][LIGHT.digest]
    assert len(cached) == 1, "the same job compared three times is one measurement"
    figure = cached[0]["per_vcpu"]
    failed = plan.compare(_local_description("Failed", name="augment-failed"))
    assert failed.recorded_to is None and "not stored for the next plan: the job failed" in str(failed)
    tiny = plan.compare(_local_description(seconds=0.1, written=4, total_s=2.0, name="augment-tiny"))
    assert tiny.recorded_to is None and "too little work to measure" in str(tiny)
    cached = json.loads((cache / "throughput.json").read_text())["specs"][LIGHT.digest]
    assert [m["per_vcpu"] for m in cached] == [figure], "neither the failed nor the tiny job moved the figure"
    p = _offline(images=1000, modes=["standalone"], instance_types=["ml.m5.large"])
    assert p.assumptions["throughput_per_vcpu"] == figure


def test_summaries_alone_are_stored_once_each_and_never_replace_another(cache):
    """Summaries that name no job were all stored as job "(summaries)": each comparison replaced
    the one before, whatever it measured."""
    def summaries(seconds: float) -> list[dict]:
        return [dict(_local_description(seconds=seconds)["LocalRuntime"]["hosts"]["algo-1"]["summary"], host=h)
                for h in ("algo-1", "algo-2")]

    for seconds in (50.0, 50.0, 40.0):
        assert plan.compare(summaries(seconds)).recorded_to
    cached = json.loads((cache / "throughput.json").read_text())["specs"][LIGHT.digest]
    assert len(cached) == 2, [m.get("job") for m in cached]
    assert len({m["per_vcpu"] for m in cached}) == 2, "the two measurements are both kept"


def test_compare_refuses_times_that_run_backwards(cache):
    with pytest.raises(UsageError, match=r"ProcessingEndTime .* is before CreationTime"):
        plan.compare(_local_description(total_s=-31_536_000))
    with pytest.raises(UsageError, match=r"its hosts report 500\.0 s of work, more than the job's 90\.0 s"):
        plan.compare(_local_description(seconds=500.0))
    assert not (cache / "throughput.json").exists(), "nothing was stored"


@pytest.mark.parametrize(("content", "message"), [
    (b"null", "holds JSON null, not a job description"),
    (b'"a job"', 'holds JSON "a job", not a job description'),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
    (b"[null]", "expected a job handle"),
    (b'[{"images_per_s": 10, "seconds": "ten"}]', "summary 0 seconds must be a finite number >= 0, got 'ten'"),
    (json.dumps({"ProcessingJobName": "j", "ProcessingJobStatus": "Completed", "ProcessingResources": {
        "ClusterConfig": {"InstanceCount": "two", "InstanceType": "ml.m5.large"}}}).encode(),
     "ProcessingResources.ClusterConfig.InstanceCount must be a whole number in [1, 100], got 'two'"),
    (json.dumps({"ProcessingJobName": "j", "ProcessingJobStatus": "Completed", "CreationTime": "yesterday"}).encode(),
     "CreationTime must be a date and time, got 'yesterday'"),
])  # fmt: skip
def test_compare_on_what_is_not_a_job_description_says_so_in_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "job.json"
    path.write_bytes(content)
    assert cli.main(["plan", "--compare", str(path), "--prices", "offline"]) == 2
    err = capsys.readouterr().err
    assert message in err and f"--compare {path}" in err, err
    assert "internal error" not in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_compare_refuses_what_is_not_a_finished_job(tmp_path):
    (tmp_path / "job.txt").write_text("images: out/")
    with pytest.raises(UsageError, match="does not start with a JSON job description"):
        plan.compare(tmp_path / "job.txt")
    with pytest.raises(UsageError, match="compare it when it ends"):
        plan.compare({"ProcessingJobName": "j", "ProcessingJobStatus": "InProgress"})
    with pytest.raises(UsageError, match="expected a job handle"):
        plan.compare([{"nothing": 1}])
    with pytest.raises(UsageError, match="no such file"):
        plan.compare(tmp_path / "missing.json")


@pytest.mark.slow
def test_calibrate_measures_this_machine_and_the_estimate_names_it(tmp_path, capsys):
    result = plan.calibrate("light", images=8, workers=1)
    assert result.images == 8 and result.outputs == 8 * LIGHT.copies and result.per_vcpu > 0
    assert result.per_vcpu == pytest.approx(result.images_per_s)
    p = _offline(images=1000, modes=["standalone"], instance_types=["ml.m5.large"])
    assert "calibrate on this machine" in p.assumptions["throughput_source"]
    assert p.assumptions["throughput_per_vcpu"] == pytest.approx(round(result.per_vcpu, 3))
    assert p.assumptions["peak_worker_mb"] == pytest.approx(round(result.peak_worker_mb, 1))


# --- guard rails on moto's server (last: the aws fixture's environment lasts until the module ends) ---


def _upload_samples(bucket: str) -> None:
    for name in list_samples():
        boto3.client("s3").upload_file(str(samples_dir() / name), bucket, f"train/{name}")


def test_max_cost_refuses_before_any_request(bucket):
    _upload_samples(bucket)
    backend = SageMakerBackend(boto_session=boto3.Session(), role=ROLE, bucket=bucket)
    sm = boto3.client("sagemaker")
    with pytest.raises(UsageError, match=r"max_cost=0.001: the estimate for sharded 4 x ml.m5.large is \$0\.04"):
        launch(backend, "light", f"s3://{bucket}/train/", f"s3://{bucket}/out/", mode="sharded", instance_count=4,
               max_cost=0.001, image_uri=IMAGE, role_arn=ROLE, prices="offline")
    with pytest.raises(UsageError, match="instance_count=3 exceeds quota=2"):
        launch(backend, "light", f"s3://{bucket}/train/", f"s3://{bucket}/out/", mode="sharded", instance_count=3,
               quota=2, image_uri=IMAGE, role_arn=ROLE)
    assert sm.list_processing_jobs()["ProcessingJobSummaries"] == []
    args = ["run", "--backend", "sagemaker", "--mode", "sharded", "--instance-count", "2", "--input",
            f"s3://{bucket}/train/", "--output", f"s3://{bucket}/out/", "--spec", "light", "--image-uri", IMAGE,
            "--role", ROLE, "--bucket", bucket, "--no-wait"]
    assert cli.main([*args, "--max-cost", "0.0001"]) == 2
    assert sm.list_processing_jobs()["ProcessingJobSummaries"] == [], "no job was created"
    spec_copies = plan.estimate("light", f"s3://{bucket}/train/", modes=["sharded"], instance_counts=[2],
                           prices="offline").options[0].cost_usd
    with pytest.raises(UsageError, match="max_cost="):  # 500 copies cost more than the spec's 2 do
        launch(backend, "light", f"s3://{bucket}/train/", f"s3://{bucket}/out/", mode="sharded", instance_count=2,
               copies=500, max_cost=spec_copies * 1.01, image_uri=IMAGE, role_arn=ROLE, prices="offline")
    assert sm.list_processing_jobs()["ProcessingJobSummaries"] == []
    job = launch(backend, "light", f"s3://{bucket}/train/", f"s3://{bucket}/out/", mode="sharded", instance_count=2,
                 copies=3, max_cost=5.0, quota=2, image_uri=IMAGE, role_arn=ROLE, prices="offline")
    assert [s["ProcessingJobName"] for s in sm.list_processing_jobs()["ProcessingJobSummaries"]] == [job.name]
    assert job.request.arguments[-2:] == ("--copies", "3"), "the job makes the copies the estimate counted"


def test_compare_a_sagemaker_description_reads_the_summaries_from_s3(bucket):
    import datetime as dt

    s3 = boto3.client("s3")
    for host, inputs, seconds in (("algo-1", 500, 50.0), ("algo-2", 500, 40.0)):
        summary = {"host": host, "inputs": inputs, "copies": 2, "written": inputs * 2, "seconds": seconds,
                   "images_per_s": inputs * 2 / seconds, "workers": 4, "peak_worker_rss_mb": 410.0,
                   "spec_digest": LIGHT.digest}
        s3.put_object(Bucket=bucket, Key=f"out/_augment/summary-{host}.json", Body=json.dumps(summary))
    created = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    description = {  # DescribeProcessingJob's shape (API reference), for a finished sharded job
        "ProcessingJobName": "augment-sharded-x", "ProcessingJobStatus": "Completed", "CreationTime": created,
        "ProcessingStartTime": created + dt.timedelta(seconds=200),
        "ProcessingEndTime": created + dt.timedelta(seconds=290),
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge",
                                                  "VolumeSizeInGB": 30}},
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "output", "S3Output": {
            "S3Uri": f"s3://{bucket}/out/", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
        "Tags": [{"Key": "augment:mode", "Value": "sharded"}],
    }  # fmt: skip
    comparison = plan.compare(description)
    assert comparison.runtime == "SageMaker"
    assert comparison.actual == {"startup_s": 240.0, "work_s": 50.0, "total_s": 290.0}
    assert comparison.per_vcpu == pytest.approx(2000 / 50.0 / (4 * 2)), "2 instances of 4 vCPUs"
    assert comparison.option.label == "sharded 2 x ml.m5.xlarge"
    assert comparison.estimated["startup_s"] == 300.0
    next_plan = _offline(images=10, modes=["standalone"], instance_types=["ml.m5.xlarge"])
    assert "job augment-sharded-x (SageMaker, 8 vCPUs)" in next_plan.assumptions["throughput_source"]
    assert next_plan.assumptions["peak_worker_mb"] == 410.0


# --- what a plan shows names sources a user can open ----------------------------------------

INTERNAL = re.compile(r"issue\s*#|\(#\d+\)|DESIGN\.md|STYLE\.md|benchmarks/results|\.ci/")


def _strings(value) -> list[str]:
    """Every string inside a JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def test_no_internal_references_in_what_a_plan_shows(cache, small_samples):
    shown = _strings(_data.table())  # every note, source and label of the shipped table
    default = plan.estimate("light", small_samples, prices="offline")  # the benchmark's figures
    _model.record(LIGHT.digest, 10.0, 300.0, "test", output_ratio=0.5)
    measured = plan.estimate("light", images=10_000, prices="offline", region="eu-west-1")
    for p in (default, measured):
        shown += [str(p), p._repr_html_(), *_strings(p.to_dict())]
    shown.append(str(plan.compare(_local_description())))
    shown.append(plan.Calibration(LIGHT.digest, 1.0, 1.0, 1, 1, 2, 1.0, 100.0, "photos/", "the job's clock").line())
    found = sorted({m.group(0) for text in shown for m in INTERNAL.finditer(text)})
    assert found == [], f"internal references shown to users: {found}"
    assert "https://aws.amazon.com/sagemaker/pricing/" in str(default), "the prices cite the page a user can open"


# --- the plan counts what the job takes ------------------------------------------------------


def _animals(root, small_samples):
    """cats/ and dogs/ of real photos, with junk and sidecars beside them: 2 x 7 images, 7 JSON
    sidecars, a .DS_Store, a Thumbs.db and a _SUCCESS marker."""
    for folder in ("cats", "dogs"):
        (root / folder).mkdir(parents=True)
        for name in list_samples():
            (root / folder / name).write_bytes((small_samples / name).read_bytes())
    for name in list_samples():
        (root / "cats" / f"{name}.json").write_text('{"label": "cat"}')
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 100)
    (root / "dogs" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    (root / "_SUCCESS").write_bytes(b"")
    return root


def test_the_plan_counts_what_the_job_takes_of_a_folder(tmp_path, small_samples):
    root = _animals(tmp_path / "photos", small_samples)
    photos = len(list_samples())
    p = plan.estimate("light", root, exclude=["*.json"], prices="offline", modes=["standalone"])
    assert p.assumptions["images"] == 2 * photos, "junk and sidecars are not inputs"
    cats = plan.estimate({"version": 1, "copies": 2, "input": {"include": ["cats/*"]},
                          "ops": [{"RandomHorizontalFlip": {"p": 0.5}}]}, root, exclude=["*.json"],
                         prices="offline", modes=["standalone"])
    assert cats.assumptions["images"] == photos and cats.assumptions["outputs"] == 2 * photos
    mean = sum((small_samples / n).stat().st_size for n in list_samples()) / photos
    assert cats.assumptions["mean_input_bytes"] == pytest.approx(mean), "the mean of what is taken, not the junk"
    # the job itself takes exactly that many
    description = run_local(build_request("light", str(root), str(tmp_path / "out"), workers=1, exclude=["*.json"]),
                            log=io.StringIO())
    assert description["LocalRuntime"]["hosts"]["algo-1"]["summary"]["inputs"] == p.assumptions["images"]


def test_the_plan_and_max_cost_count_what_the_job_takes_on_s3(bucket, small_samples):
    s3 = boto3.client("s3")
    for name in list_samples():
        s3.upload_file(str(small_samples / name), bucket, f"train/{name}")
        s3.put_object(Bucket=bucket, Key=f"train/{name}.json", Body=b'{"label": 1}')
    for junk in ("train/.DS_Store", "train/_SUCCESS", "train/sub/", "train/__MACOSX/._x.jpg"):
        s3.put_object(Bucket=bucket, Key=junk, Body=b"" if junk.endswith("/") else b"junk")
    uri = f"s3://{bucket}/train/"
    sharded = {"modes": ["sharded"], "instance_types": ["ml.m5.large"], "instance_counts": [2], "copies": 1000}
    taken = plan.estimate("light", uri, exclude=["*.json"], prices="offline", **sharded)
    assert taken.assumptions["images"] == len(list_samples())
    everything = plan.estimate("light", uri, prices="offline", **sharded)
    assert everything.assumptions["images"] == 2 * len(list_samples()), "the JSON sidecars, without --exclude"
    limit = taken.options[0].cost_usd * 1.001
    assert everything.options[0].cost_usd > limit
    backend = SageMakerBackend(boto_session=boto3.Session(), role=ROLE, bucket=bucket)
    sm = boto3.client("sagemaker")
    before = {s["ProcessingJobName"] for s in sm.list_processing_jobs()["ProcessingJobSummaries"]}
    job = launch(backend, "light", uri, f"s3://{bucket}/out/", mode="sharded", instance_count=2, copies=1000,
                 exclude=["*.json"], max_cost=limit, image_uri=IMAGE, role_arn=ROLE, prices="offline")
    after = {s["ProcessingJobName"] for s in sm.list_processing_jobs()["ProcessingJobSummaries"]}
    assert after - before == {job.name}, "the job it would make is within the limit: it was launched"


# --- calibrate samples what the job takes ----------------------------------------------------


@pytest.mark.slow
def test_calibrate_samples_what_the_job_takes_keeping_paths(tmp_path, small_samples, cache):
    root = _animals(tmp_path / "photos", small_samples)
    spec = {"version": 1, "copies": 2, "input": {"include": ["cats/*"], "exclude": ["*.json"]},
            "ops": [{"RandomHorizontalFlip": {"p": 0.5}}]}
    result = plan.calibrate(spec, root, images=10, workers=1)  # more than the 7 cats: some are taken twice
    assert result.images == 10 and result.outputs == 20 and result.per_vcpu > 0
    assert result.output_ratio and result.output_ratio > 0 and result.recorded_to
    stored = json.loads((cache / "throughput.json").read_text())["specs"][load_spec(spec).digest][-1]
    assert stored["output_ratio"] == pytest.approx(result.output_ratio, rel=1e-3)
    p = plan.estimate(spec, root, prices="offline", modes=["standalone"])
    assert "measured for this spec" in p.assumptions["disk"], "the disk uses the measured output size"


@pytest.mark.slow
def test_a_calibration_that_fails_names_the_users_files(tmp_path):
    root = tmp_path / "photos"
    (root / "cats").mkdir(parents=True)
    (root / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG at all")
    with pytest.raises(JobFailed) as info:
        plan.calibrate("light", root, images=1, workers=1, record=False)
    message = str(info.value)
    assert f"a sample of {root}" in message and str(root / "cats" / "broken.jpg") in message, message
    assert "augment-calibrate-" not in message, "no temporary folder the user cannot see"


def test_calibrate_on_an_empty_or_junk_only_folder_speaks_of_files(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["plan", "--calibrate", str(empty), "--prices", "offline"]) == 2
    assert f"--calibrate {empty}: no files found" in capsys.readouterr().err
    (empty / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    assert cli.main(["plan", "--calibrate", str(empty), "--prices", "offline"]) == 2
    err = capsys.readouterr().err
    assert f"--calibrate {empty}: no inputs: its one file is excluded (.DS_Store: 1)" in err, err


def test_an_unwritable_cache_is_said_before_calibrating(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(UsageError, match=f"cannot write the throughput cache {blocker / 'cache'}"):
        plan.calibrate("light", images=2, workers=1)
    assert cli.main(["plan", "--calibrate", "--prices", "offline"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the throughput cache" in err and "AUGMENT_CACHE_DIR" in err and "calibrated" not in err


# --- bad numbers and paths ------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"startup_s": math.nan}, {"throughput": math.nan}, {"throughput": math.inf}, {"max_cost": math.nan},
    {"startup_s": -math.inf}, {"consume_s": math.nan}, {"deadline": math.inf},
])  # fmt: skip
def test_the_library_refuses_nan_and_infinity_naming_the_parameter(kwargs):
    [(name, value)] = kwargs.items()
    with pytest.raises(UsageError, match=f"^{name}={value}: ") as info:
        _offline(images=100, **kwargs)
    assert "finite" in str(info.value)


def test_a_plot_that_cannot_be_written_is_said_before_any_work(tmp_path, capsys):
    # --input names a folder that does not exist: the plot's error comes first, so nothing was counted
    missing = str(tmp_path / "no-such-folder")
    assert cli.main(["plan", "--input", missing, "--plot", str(tmp_path / "plan.xyz")]) == 2
    err = capsys.readouterr().err
    assert f"--plot {tmp_path / 'plan.xyz'}: cannot draw a plot as .xyz; name a file ending in one of .png" in err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["plan", "--input", missing, "--plot", str(blocker / "plan.png")]) == 2
    assert f"cannot write {blocker / 'plan.png'}: {blocker} is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"cannot draw a plot as \.xyz"):
        _offline(images=10).plot(tmp_path / "p.xyz")


def test_a_plot_is_written_whole_or_said_it_cannot_be(tmp_path):
    p = _offline(images=100, modes=["standalone"])
    p.plot(tmp_path / "plan.svg")
    assert (tmp_path / "plan.svg").read_text().lstrip().startswith("<?xml")
    assert [f.name for f in tmp_path.iterdir()] == ["plan.svg"], "no temporary file left beside it"
    with pytest.raises(UsageError, match=r"^cannot write /proc/augment-plan\.png: "):
        p.plot("/proc/augment-plan.png")  # a folder no file can be created in, even by root


# --- disk: the plan shows it, the launch asks for it -----------------------------------------


def _recorded_creates(aws: str) -> list[dict]:
    import base64

    import requests

    text = requests.get(f"{aws}/moto-api/recorder/download-recording", timeout=30).text
    return [json.loads(base64.b64decode(r["body"])) for r in recorded(text)
            if r["headers"].get("X-Amz-Target") == "SageMaker.CreateProcessingJob"]


def test_the_launch_asks_for_the_disk_the_plan_shows(aws, bucket, tmp_path, monkeypatch):
    import PIL.Image
    import requests
    from moto.moto_api import recorder

    from augment.plan import _disk

    monkeypatch.setattr(recorder, "_location", str(tmp_path / "moto_recording"))
    s3 = boto3.client("s3")
    sizes = []
    for name in list_samples()[:4]:  # real photos, enlarged to 3000 px: about 1.6 MB each
        with PIL.Image.open(samples_dir() / name) as img:
            big = img.convert("RGB").resize((3000, 3000), PIL.Image.BICUBIC)
        body = io.BytesIO()
        big.save(body, "JPEG", quality=98)
        sizes.append(len(body.getvalue()))
        s3.put_object(Bucket=bucket, Key=f"big/{name}", Body=body.getvalue())
    spec = tmp_path / "png.yaml"  # 1000 PNG copies of each: about 7x its bytes each, by the planner's assumption
    spec.write_text("version: 1\ncopies: 1000\noutput: {format: png}\nops:\n  - RandomHorizontalFlip: {p: 0.5}\n")
    ratio = _disk.ASSUMED_OUTPUT_RATIO["png"]
    need = math.ceil(sum(sizes) * (1 + 1000 * ratio) * 1.25 / 2**30 + 1)  # the share, its outputs, the margin
    assert need > 30, "more than the least volume: the test needs a real sizing"
    uri, out = f"s3://{bucket}/big/", f"s3://{bucket}/out-{{}}/"

    p = plan.estimate(str(spec), uri, prices="offline", modes=["standalone", "sharded"],
                      instance_types=["ml.m5.large"], instance_counts=[4])
    alone, sharded = p.options
    assert alone.disk_need_gb == alone.volume_gb == need and f"{need:,} GB" in str(p)
    assert sharded.volume_gb == 30, "a quarter of the input per instance fits the least volume"
    assert alone.volume_cost_usd == pytest.approx(alone.billed_instance_s * need * 0.14 / (730 * 3600))

    backend = SageMakerBackend(boto_session=boto3.Session(), role=ROLE, bucket=bucket)
    requests.post(f"{aws}/moto-api/recorder/reset-recording", timeout=30).raise_for_status()
    requests.post(f"{aws}/moto-api/recorder/start-recording", timeout=30).raise_for_status()
    try:
        launch(backend, str(spec), uri, out.format(1), image_uri=IMAGE, role_arn=ROLE, prices="offline")
        launch(backend, str(spec), uri, out.format(2), mode="sharded", instance_count=4, image_uri=IMAGE,
               role_arn=ROLE, prices="offline")
        with pytest.raises(UsageError, match=f"^volume_gb=40: too small: each instance needs {need} GB: its input "
                                             r"share \d MB and outputs \d+\.\d GB"):
            launch(backend, str(spec), uri, out.format(3), volume_gb=40, image_uri=IMAGE, role_arn=ROLE,
                   prices="offline")
        launch(backend, str(spec), uri, out.format(4), volume_gb=need + 10, image_uri=IMAGE, role_arn=ROLE,
               prices="offline")
    finally:
        requests.post(f"{aws}/moto-api/recorder/stop-recording", timeout=30).raise_for_status()
    sent = [c["ProcessingResources"]["ClusterConfig"] for c in _recorded_creates(aws)]
    assert sent == [{"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": need},
                    {"InstanceCount": 4, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
                    {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": need + 10}], \
        "sized, the least for a small share, and the user's own when it is enough; the refused one sent nothing"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="out-3/").get("KeyCount", 0) == 0, "nothing written for it"


# --- one number check: nan and 400-digit integers, at every entry point ----------------------

HUGE = 10**400  # math.isfinite(HUGE) raises OverflowError, as float(HUGE) does


def _request(**changes):
    return build_request("light", "s3://bucket/in/", "s3://bucket/out/", image_uri=IMAGE,
                         role_arn=ROLE).with_changes(**changes)


@pytest.mark.parametrize("bad", [HUGE, math.nan], ids=["huge", "nan"])
@pytest.mark.parametrize(("call", "name"), [
    (lambda v: _offline(images=100, max_cost=v), "max_cost="),
    (lambda v: _offline(images=100, startup_s=v), "startup_s="),
    (lambda v: _offline(images=100, throughput=v), "throughput="),
    (lambda v: _offline(images=100, consume_s=v), "consume_s="),
    (lambda v: _offline(images=v), "images="),
    (lambda v: _offline(images=100, batch_size=v), "batch_size="),
    (lambda v: _offline(images=100, instance_counts=[v]), "instance_counts="),
    (lambda v: _offline(images=100, quota=v), "quota="),
    (lambda v: _offline(images=100, deadline=v), "deadline="),
    (lambda v: plan.calibrate("light", images=v), "images="),
    (lambda v: plan.calibrate("light", images=8, workers=v), "workers="),
    (lambda v: build_request("light", "s3://b/in/", "s3://b/out/", volume_gb=v), "volume_gb"),
    (lambda v: _disk_check(v), "volume_gb"),
    (lambda v: _request(volume_gb=v).validate(), "ProcessingResources.ClusterConfig.VolumeSizeInGB"),
])  # fmt: skip
def test_every_number_is_checked_by_one_rule_naming_its_parameter(call, name, bad):
    """`math.isfinite(10**400)` raises OverflowError: the copies of the number check in the
    planner crashed on a 400-digit integer ("internal error") where options.check_number,
    which compares integers exactly, refused it by name."""
    with pytest.raises(UsageError) as info:
        call(bad)
    assert name in str(info.value) and "must be" in str(info.value), str(info.value)
    lines = str(info.value).splitlines()
    assert lines[1:] == [] or (lines[0] == "invalid job request:" and len(lines) == 2), "only the one problem"
    assert len(str(info.value)) < 300, "the number is quoted briefly"


def _disk_check(value):
    from augment.plan import _disk

    return _disk.check_volume(_disk.disk(1 << 20, 1, False, 1.5), value)


@pytest.mark.parametrize("field", ["inputs", "copies", "written", "workers", "seconds", "images_per_s"])
@pytest.mark.parametrize("bad", ["1" + "0" * 400, "NaN"], ids=["huge", "nan"])
def test_compare_refuses_a_huge_or_nan_figure_in_one_line(tmp_path, capsys, field, bad):
    path = tmp_path / "job.json"
    path.write_text(f'[{{"images_per_s": 10, "seconds": 5, "{field}": {bad}}}]')
    assert cli.main(["plan", "--compare", str(path), "--prices", "offline"]) == 2
    err = capsys.readouterr().err
    assert f"--compare {path}: summary 0 {field} must be " in err, err
    assert "internal error" not in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_cache_of_huge_or_nan_figures_is_skipped_not_a_crash(cache):
    digest = LIGHT.digest
    cache.mkdir(parents=True)
    (cache / "throughput.json").write_text(
        f'{{"{digest}": [{{"per_vcpu": {HUGE}, "output_ratio": {HUGE}}}, {{"per_vcpu": NaN, "output_ratio": NaN}}]}}')
    assert _model.output_ratio(digest) is None
    assert _model.throughput(digest).source.startswith("default"), "no usable measurement"


# --- disk of a sharded job: no assignment of objects to instances is assumed ------------------


def test_a_sharded_share_is_bounded_by_its_largest_objects_whatever_the_assignment():
    """SageMaker documents no rule for which objects ShardedByS3Key gives which instance;
    dealing them round-robin in key order gave 11 here, where an instance given both large
    objects downloads 20."""
    from augment.plan import _disk

    sizes = [10, 1, 1, 1, 1, 1, 1, 10]
    assert _disk.share_bytes(sizes, "sharded", 4, 1) == 20, "the largest ceil(8/4) = 2 objects"
    assert _disk.share_bytes(sizes, "sharded", 3, 1) == 21, "the largest ceil(8/3) = 3 objects"
    assert _disk.share_bytes(sizes, "sharded", 8, 1) == 10
    assert _disk.share_bytes(sizes, "sharded", 20, 1) == 10, "more instances than objects: one object each"
    assert _disk.share_bytes([], "sharded", 4, 1) == 0
    assert _disk.share_bytes(sizes, "standalone", 1, 1) == 26
