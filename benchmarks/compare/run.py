"""`make bench` (`journeyctl bench compare`): the journey job beside what a user could run instead,
on the same broker, the same shop and the same journeys, one contender after another on the
otherwise idle machine; ratios measured in one run say more than absolute figures on a noisy
machine.

For each contender (`benchmarks.compare.contenders`):
1. **throughput**: it reads the shop's backlog (the same records for each, written into topics
   of its own before it starts) from the start; events/s from its first committed progress to
   the later of its last commit and the action for the backlog's last record
   (`measure.throughput`);
2. **latency**: then, still running, it gets the same shop live at 80 % of its own peak, each
   record stamped when written; latency = when the action caused by a shipment delay is seen by
   a read_committed consumer - when the delay was written (p50/p95/p99), after a warm-up;
3. **memory**: the peak resident memory of its processes over both.

Out: a table with the ratios, `benchmarks/results/<date>.json`, a PNG chart beside it, and the
table in docs/performance.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.compare.contenders import CONTENDERS, Contender
from benchmarks.compare.measure import Outputs, PeakMemory, behind, percentiles, throughput
from benchmarks.compare.workload import PROBE, Backlog, Shop, Stream, backlog
from benchmarks.journey_job import CLUSTER_SCRIPT, _cluster_up, _settings, paced
from benchmarks.workload import _Records, _Writer, render
from common.clock import iso_ms
from common.settings import REPO, Settings
from connectors.admin import ensure_topics

RESULTS = REPO / "benchmarks" / "results"
LOGS = REPO / ".stack" / "logs" / "bench"
#: the share of its own peak at which each contender's latency is measured
LOAD = 0.8
#: the live records' log sequence numbers start far above any backlog's, so that ids never meet
LIVE_LSN = 1_000_000_000


@dataclasses.dataclass
class Figures:
    key: str
    label: str
    events_per_s: float = math.nan
    offered_per_s: float = math.nan
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    probes: int = 0
    probes_acted_on: int = 0
    peak_mb: float = math.nan
    #: pending waits due evenly over a spread: lateness from the due moment to the action seen
    timer_p50_ms: float = math.nan
    timer_p99_ms: float = math.nan
    timer_max_ms: float = math.nan
    #: the highest firing rate over 10 s
    firings_per_s: float = math.nan
    caveats: str = ""
    error: str | None = None


def _progress(total: int, say: Callable[[str], None]) -> Callable[[int], None]:
    started = time.monotonic()

    def show(n: int) -> None:
        done = min(1.0, n / total) if total else 1.0
        bar = "#" * int(done * 30)
        rate = n / max(1e-9, time.monotonic() - started)
        print(f"\r  writing [{bar:<30}] {n:,} records, {rate:,.0f}/s", end="", flush=True)

    return show


def write_backlog(
    s: Settings, shop: Shop, say: Callable[[str], None], quiet: bool = False
) -> tuple[int, Backlog]:
    w = _Writer(s, lsn=True)
    # records per customer (consents), SKU (stock) and session, as the mix comes out: for the bar
    expected = int(shop.customers * 2.7 + shop.skus * 3 + shop.sessions * 6)
    written = backlog(
        w, shop, int(time.time() * 1000) - 3_600_000, None if quiet else _progress(expected, say)
    )
    w.flush()
    if not quiet:
        print(f"\r  wrote {w.n:,} records{' ' * 40}", flush=True)
    return w.n, written


#: the time written into the live records when they are made, replaced when each is sent
PLACEHOLDER_MS = 999_999_999_999


class Rendered(_Records):
    """Live records made ahead, as (topic, key, value) bytes with a placeholder time: the
    writer then only puts the time in and hands them over, and takes as little of the machine
    from the contender as it can."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(lsn=True)
        self.lsn = LIVE_LSN
        self.t = settings.topics
        self.out: list[tuple[str, bytes, bytes]] = []

    def _emit(self, raw: Any) -> None:
        self.out.append(render(self.t, raw))


def live_records(
    r: Settings, shop: Shop, count: int
) -> tuple[list[tuple[str, bytes, bytes]], dict[int, str]]:
    """`count` records of the shop, live (new ids), rendered; the event id of each probe by index."""
    rendered = Rendered(r)
    stream = Stream(
        dataclasses.replace(shop, seed=shop.seed + 1, sessions=10**9, tag=f"L{uuid.uuid4().hex[:6]}-")
    )
    probes: dict[int, str] = {}
    for kind, emit in stream.sessions():
        if len(rendered.out) >= count:
            break
        event_id = emit(rendered, PLACEHOLDER_MS)
        if kind == PROBE and event_id is not None:
            probes[len(rendered.out) - 1] = event_id
    return rendered.out[:count], probes


def latency(
    r: Settings,
    outputs: Outputs,
    shop: Shop,
    rate: float,
    seconds: float,
    warm_up_s: float,
) -> tuple[float, list[float], int]:
    """(offered rate, latencies in ms, probes written): the shop live at `rate` records/s."""
    warm = int(rate * warm_up_s)
    count = warm + int(rate * seconds)
    records, probe_at = live_records(r, shop, count)
    w = _Writer(r, linger_ms=5)
    ms_text, iso_text = str(PLACEHOLDER_MS).encode(), iso_ms(PLACEHOLDER_MS).encode()
    probes: dict[str, float] = {}
    started = time.monotonic()
    for i in paced(count, rate):
        topic, key, value = records[i]
        ts = int(time.time() * 1000)
        w.send(
            topic, key, value.replace(ms_text, str(ts).encode()).replace(iso_text, iso_ms(ts).encode()), ts
        )
        if i >= warm and i in probe_at:
            probes[probe_at[i]] = ts
    offered = count / (time.monotonic() - started)
    w.flush()
    deadline = time.monotonic() + 60
    while len(probes.keys() & outputs.caused.keys()) < len(probes) and time.monotonic() < deadline:
        time.sleep(0.2)
    caused = dict(outputs.caused)
    return offered, [caused[e] - t for e, t in probes.items() if e in caused], len(probes)


def measure(
    contender: Contender,
    base: Settings,
    folder: Path,
    shop: Shop,
    latency_s: float,
    say: Callable[[str], None],
) -> Figures:
    """The contender's figures. It gets topics of its own, the shop's backlog written into them
    before it starts (the same records for every contender, from the same seed), so that the
    live load of one contender's latency run is never in another's backlog."""
    f = Figures(contender.key, contender.label, caveats=contender.caveats)
    s = _short_names(base, folder) if contender.short_topics else _settings(base, folder)
    written = write_backlog(s, shop, say, quiet=True)
    r = contender.adapt(s)
    ensure_topics(r, contender.outputs(r))
    LOGS.mkdir(parents=True, exist_ok=True)
    say(f"  {contender.label}: starting")
    run = contender.start(r, LOGS)
    memory = PeakMemory(run.pids)
    outputs = Outputs(r, contender.outputs(r), contender.trigger(r))
    total, backlog_ = written
    try:
        t = throughput(
            r,
            outputs,
            total,
            backlog_.sentinel,
            contender.interval_s,
            say,
            run.alive,
            counted=contender.counted,
        )
        f.events_per_s = t.events_per_s
        say(f"    {t.events_per_s:,.0f} events/s ({t.records:,} records in {t.seconds:.1f} s)")
        offered, lat, probes = latency(r, outputs, shop, LOAD * t.events_per_s, latency_s, 3.0)
        if behind(lat, probes):
            # the writer shares the machine's cores: 80 % of a peak taken alone can be more than
            # the contender keeps up with beside it; a latency then measures only the queue
            say(
                f"    fell behind at {offered:,.0f}/s (p50 {percentiles(lat)[0]:,.0f} ms); again at half that"
            )
            f.caveats = f"{f.caveats}; latency at {LOAD / 2:.0%} of its peak: it fell behind at {LOAD:.0%}"
            offered, lat, probes = latency(r, outputs, shop, LOAD / 2 * t.events_per_s, latency_s, 3.0)
        f.offered_per_s, f.probes, f.probes_acted_on = offered, probes, len(lat)
        f.p50_ms, f.p95_ms, f.p99_ms = percentiles(lat)
        say(
            f"    latency at {offered:,.0f}/s: p50 {f.p50_ms:,.0f} ms, p95 {f.p95_ms:,.0f} ms, "
            f"p99 {f.p99_ms:,.0f} ms ({len(lat)} of {probes} shipment delays acted on)"
        )
    except Exception as e:  # one contender's failure is reported, the others still run
        f.error = str(e)
        say(f"    failed: {e} (its log: {LOGS})")
    finally:
        run.stop()
        outputs.close()
        f.peak_mb = memory.close()
        say(f"    peak memory {f.peak_mb:,.0f} MB")
        drop_topics(r, [*r.topics.inputs(), *contender.outputs(r), r.topics.dead_letter, *internal_topics(r)])
    return f


@dataclasses.dataclass(frozen=True)
class TimerRun:
    waits: int = 1_000_000
    spread_s: int = 1_800


def measure_timers(
    contender: Contender, f: Figures, base: Settings, folder: Path, run: TimerRun, say: Callable[[str], None]
) -> None:
    """`run.waits` carts wait a fixed time, due evenly over `run.spread_s` (`journey_job.timers`);
    at-least-once and 100 ms of out-of-orderness for the job, as its latency target."""
    from benchmarks.journey_job import timers

    @contextlib.contextmanager
    def running(s: Settings) -> Iterator[None]:
        started = contender.start(contender.adapt(s), LOGS)
        try:
            yield
        finally:
            started.stop()

    say(f"  {contender.label}: {run.waits:,} waits due over {run.spread_s} s")
    try:
        p50, p99, top, rate = timers(
            base,
            folder,
            run.waits,
            "minicluster",
            say,
            spread_s=run.spread_s,
            runner=running,
            out_of_orderness_ms=100,
        )
        f.timer_p50_ms, f.timer_p99_ms, f.timer_max_ms, f.firings_per_s = p50, p99, top, rate
    except Exception as e:  # reported beside its other figures; the run goes on
        f.error = f"timers: {e}"
        say(f"    timers failed: {e}")


def _short_names(base: Settings, folder: Path) -> Settings:
    """A run's settings with topics named `<run><letter>` (five characters). Quix Streams names
    the changelog of a stage after a repartition topic after every topic upstream of it, twice
    over here: 11 names of 30 characters do not fit."""
    run = uuid.uuid4().hex[:4]
    names: dict[str, str] = {}
    letters = "abcdefghijklmnopqrstuvwxyz"
    return _settings(base, folder, rename=lambda t: names.setdefault(t, f"{run}{letters[len(names)]}"))


def internal_topics(s: Settings) -> list[str]:
    """Topics a contender made for itself (Quix Streams' repartition and changelog topics): named
    after its consumer group or its inputs."""
    from confluent_kafka.admin import AdminClient

    marks = [s.consumer_group, *s.topics.inputs()]
    found = AdminClient(s.kafka.librdkafka_properties()).list_topics(timeout=10).topics
    return [t for t in found if any(m in t for m in marks) and t not in s.topics.inputs()]


def drop_topics(s: Settings, topics: list[str]) -> None:
    """A contender's topics once its figures are taken: the whole run's would fill the disk."""
    from confluent_kafka.admin import AdminClient

    for future in AdminClient(s.kafka.librdkafka_properties()).delete_topics(topics).values():
        # already gone, or the broker says no: the run's figures stand
        with contextlib.suppress(Exception):
            future.result(30)


REFERENCE = "job-minicluster-eo"
#: (ratio name, numerator, denominator)
RATIOS = (
    ("this job / JVM-only Flink", REFERENCE, "jvm-sql"),
    ("this job / single Python process", REFERENCE, "python"),
    ("this job / Quix Streams", REFERENCE, "quix"),
    ("this job / Bytewax", REFERENCE, "bytewax"),
    ("cluster / MiniCluster, exactly-once", "job-cluster-eo", "job-minicluster-eo"),
    ("cluster / MiniCluster, at-least-once", "job-cluster-alo", "job-minicluster-alo"),
    ("exactly-once / at-least-once, MiniCluster", "job-minicluster-eo", "job-minicluster-alo"),
)


def ratios(figures: list[Figures]) -> list[dict[str, Any]]:
    by = {f.key: f for f in figures}
    out = []
    for name, a, b in RATIOS:
        if a in by and b in by:
            x, y = by[a], by[b]
            out.append(
                {
                    "ratio": name,
                    "throughput": x.events_per_s / y.events_per_s if y.events_per_s else math.nan,
                    "p99": x.p99_ms / y.p99_ms if y.p99_ms else math.nan,
                    "memory": x.peak_mb / y.peak_mb if y.peak_mb else math.nan,
                }
            )
    return out


def _n(v: float, fmt: str = ",.0f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def table(figures: list[Figures], rows: list[dict[str, Any]]) -> str:
    lines = [
        "| contender | events/s | latency p50 / p95 / p99 ms (offered /s) | peak MB "
        "| timers p50 / p99 ms (firings/s) |",
        "|---|---:|---|---:|---|",
    ]
    for f in figures:
        lat = f"{_n(f.p50_ms)} / {_n(f.p95_ms)} / {_n(f.p99_ms)} ({_n(f.offered_per_s)})"
        if f.error:
            lat = f"failed: {f.error[:80]}"
        timer = (
            "-"
            if math.isnan(f.timer_p99_ms)
            else f"{_n(f.timer_p50_ms)} / {_n(f.timer_p99_ms)} ({_n(f.firings_per_s)})"
        )
        lines.append(f"| {f.label} | {_n(f.events_per_s)} | {lat} | {_n(f.peak_mb)} | {timer} |")
    lines += ["", "| ratio | throughput | p99 | memory |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['ratio']} | {_n(r['throughput'], '.2f')} | {_n(r['p99'], '.2f')} "
            f"| {_n(r['memory'], '.2f')} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(
        next(
            ln.split()[1]
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal")
        )
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
    }


def chart(figures: list[Figures], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [f for f in figures if not math.isnan(f.events_per_s)]
    labels = [f.key for f in done]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.5 * len(done) + 1.8))
    left.barh(labels, [f.events_per_s for f in done], color="#4c72b0")
    left.set_xscale("log")
    left.set_xlabel("events/s (log scale)")
    left.set_title("throughput, backlog")
    right.barh(labels, [0 if math.isnan(f.p99_ms) else f.p99_ms for f in done], color="#dd8452")
    right.set_xlabel("ms")
    right.set_title(f"latency p99 at {LOAD:.0%} of each one's peak")
    right.set_yticklabels([])
    for ax in (left, right):
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_docs(text: str, when: str, info: dict[str, Any], json_path: Path, doc: Path) -> None:
    """The table between the markers of docs/performance.md, with the machine it came from."""
    begin, end = "<!-- make bench: begin -->", "<!-- make bench: end -->"
    body = (
        f"{begin}\n_Written by `make bench` on {when} ({info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gb']} GB); figures in `{json_path.relative_to(REPO)}`._\n\n{text}\n{end}"
    )
    old = doc.read_text()
    if begin in old and end in old:
        new = old[: old.index(begin)] + body + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip() + "\n\n## Side by side: `make bench`\n\n" + body + "\n"
    doc.write_text(new)


def main(
    shop: Shop,
    keys: list[str],
    latency_s: float = 20.0,
    docs: bool = True,
    name: str = "",
    timer_run: TimerRun | None = TimerRun(),
) -> int:
    """`name`: after the date in the results' file names (`--quick` runs are `<date>-quick`)."""

    def say(text: str) -> None:
        print(text, flush=True)

    # stopped from outside (timeout, kill): the contender running now is stopped too, and a
    # second signal (a process group killed, then its timeout) does not cut that short
    def stopped(*_: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)

    signal.signal(signal.SIGTERM, stopped)
    unknown = [k for k in keys if k not in CONTENDERS]
    if unknown:
        raise SystemExit(f"unknown contenders {unknown}; known: {', '.join(CONTENDERS)}")
    base = Settings()
    when = datetime.now(UTC)
    say(
        f"make bench: {len(keys)} contenders on one shop ({shop.customers:,} customers, "
        f"{shop.skus:,} SKUs, {shop.sessions:,} sessions)"
    )
    folder = LOGS / when.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    # the shop once to see its size and mix; each contender gets the same records in its own topics
    probe = _settings(base, folder)
    total, written = write_backlog(probe, shop, say)
    drop_topics(probe, probe.topics.inputs())
    mix = written.mix
    say("  mix: " + ", ".join(f"{k} {v:,}" for k, v in mix.most_common()))
    started_cluster = any(k.startswith("job-cluster") for k in keys) and _cluster_up(say)
    figures = []
    try:
        for key in keys:
            figures.append(measure(CONTENDERS[key], base, folder, shop, latency_s, say))
        if timer_run is not None:
            for f in figures:
                if CONTENDERS[f.key].timers:
                    measure_timers(CONTENDERS[f.key], f, base, folder, timer_run, say)
    finally:
        if started_cluster:
            subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "down"], capture_output=True)
    rows = ratios(figures)
    text = table(figures, rows)
    say("")
    say(text)
    info = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / (when.strftime("%Y-%m-%d") + (f"-{name}" if name else ""))
    json_path = stem.with_suffix(".json")
    json_path.write_text(
        json.dumps(
            {
                "date": when.isoformat(timespec="seconds"),
                "machine": info,
                "shop": dataclasses.asdict(shop),
                "records": total,
                "mix": dict(mix),
                "load": LOAD,
                "contenders": [dataclasses.asdict(f) for f in figures],
                "ratios": rows,
            },
            indent=2,
        )
        + "\n"
    )
    png = chart(figures, stem.with_suffix(".png"))
    say(f"\nfigures: {json_path.relative_to(REPO)}, chart: {png.relative_to(REPO)}")
    if docs:
        write_docs(text, when.strftime("%Y-%m-%d"), info, json_path, REPO / "docs" / "performance.md")
        say("table written to docs/performance.md")
    return 1 if any(f.error for f in figures) else 0
