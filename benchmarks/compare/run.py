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

Out (`benchmarks.compare.report`): a table with the ratios, `benchmarks/results/<date>.json`, a
PNG chart beside it, and the table in docs/performance.md. Timer lateness takes a run of its own,
`make bench-timers` (`benchmarks.compare.timers`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.compare.contenders import CONTENDERS, Contender
from benchmarks.compare.measure import Outputs, PeakMemory, behind, percentiles, throughput
from benchmarks.compare.report import LOAD, Figures, chart, ratios, save, table, write_docs
from benchmarks.compare.workload import PROBE, Backlog, Shop, Stream, backlog
from benchmarks.journey_job import CLUSTER_SCRIPT, _cluster_up, _settings, paced
from benchmarks.workload import _Records, _Writer, render
from common.clock import iso_ms
from common.settings import REPO, Settings
from connectors.admin import ensure_topics, lag

LOGS = REPO / ".stack" / "logs" / "bench"
#: the live records' log sequence numbers start far above any backlog's, so that ids never meet
LIVE_LSN = 1_000_000_000


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
) -> tuple[float, list[float], int, float]:
    """(offered rate, latencies in ms, probes written, seconds of records the contender had not
    read when the writer stopped): the shop live at `rate` records/s."""
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
    read, written = lag(r, r.consumer_group, r.topics.inputs())
    deadline = time.monotonic() + 60
    while len(probes.keys() & outputs.caused.keys()) < len(probes) and time.monotonic() < deadline:
        time.sleep(0.2)
    caused = dict(outputs.caused)
    latencies = [caused[e] - t for e, t in probes.items() if e in caused]
    return offered, latencies, len(probes), (written - read) / offered


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
        offered, lat, probes, queued_s = latency(r, outputs, shop, LOAD * t.events_per_s, latency_s, 3.0)
        if behind(lat, probes, queued_s):
            # the writer shares the machine's cores: 80 % of a peak taken alone can be more than
            # the contender keeps up with beside it; a latency then measures only the queue
            say(
                f"    fell behind at {offered:,.0f}/s (p50 {percentiles(lat)[0]:,.0f} ms, "
                f"{queued_s:.1f} s of records unread at the end); again at half that"
            )
            f.caveats = f"{f.caveats}; latency at {LOAD / 2:.0%} of its peak: it fell behind at {LOAD:.0%}"
            offered, lat, probes, _ = latency(r, outputs, shop, LOAD / 2 * t.events_per_s, latency_s, 3.0)
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

    # held until its futures are done: an AdminClient collected before then never completes them
    admin = AdminClient(s.kafka.librdkafka_properties())
    # each name once: the broker refuses a request that names a topic twice
    unique = list(dict.fromkeys(topics))
    for future in admin.delete_topics(unique, operation_timeout=30, request_timeout=30).values():
        # already gone, or the broker says no: the run's figures stand
        with contextlib.suppress(Exception):
            future.result(60)


def on_stop() -> None:
    """Stopped from outside (timeout, kill): the contender running now is stopped too (the
    `finally`s run), and a second signal (a process group killed, then its timeout) does not
    cut that short."""

    def stopped(*_: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)

    signal.signal(signal.SIGTERM, stopped)


def main(shop: Shop, keys: list[str], latency_s: float = 20.0, docs: bool = True, name: str = "") -> int:
    """`name`: after the date in the results' file names (`--quick` runs are `<date>-quick`)."""

    def say(text: str) -> None:
        print(text, flush=True)

    on_stop()
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
    finally:
        if started_cluster:
            subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "down"], capture_output=True)
    rows = ratios(figures)
    text = table(figures, rows)
    say("\n" + text)
    body = {
        "shop": dataclasses.asdict(shop),
        "records": total,
        "mix": dict(mix),
        "load": LOAD,
        "contenders": [dataclasses.asdict(f) for f in figures],
        "ratios": rows,
    }
    path = save(when, name, body)
    png = chart(figures, path.with_suffix(".png"))
    say(f"\nfigures: {path.relative_to(REPO)}, chart: {png.relative_to(REPO)}")
    if docs:
        write_docs("make bench", text, when, path)
        say("table written to docs/performance.md")
    return 1 if any(f.error for f in figures) else 0
