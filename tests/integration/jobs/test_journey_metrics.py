"""The journey job's Prometheus endpoint (Flink's reporter on the MiniCluster) scraped while the
job runs, its counts checked against what the test wrote and what `simulate` decided."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from common.settings import Settings
from jobs.simulate import Simulation, parse_records
from journeyctl.replay import topic_map
from journeyctl.sample_data import shop_day
from journeys.loader import load_dir
from tests.journey_checks import flush_metrics, read_outputs, shop_day_in_kafka, start_journey
from tests.smtp_server import free_port

Samples = list[tuple[str, dict[str, str], float]]


def _scrape(port: int) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def _sum(samples: Samples, suffix: str, by: tuple[str, ...]) -> Counter[tuple[str, ...]]:
    """A metric's value summed over subtasks, by the given labels."""
    out: Counter[tuple[str, ...]] = Counter()
    for name, labels, value in samples:
        if name.endswith(suffix):
            out[tuple(labels[k] for k in by)] += int(value)
    return +out


def test_the_job_metrics_count_what_went_in_and_came_out(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    port = free_port()
    settings = settings.model_copy(
        update={"flink": settings.flink.model_copy(update={"prometheus_ports": str(port)})}
    )
    lines = shop_day()
    s, _ = shop_day_in_kafka(settings, unique, lines)
    # what the job decides by the end of the day: the later waits fire only as journey time
    # passes, which in an unbounded job is the wall clock's pace after the last record
    by_day_end = Simulation(load_dir())
    by_day_end.run(parse_records(lines), drain_ms=0)
    renamed = topic_map(s)
    sent = Counter(renamed.get(r.topic, r.topic) for r in parse_records(lines))
    client = start_journey(s, "journey-metrics")
    try:
        read_outputs(s, by_day_end.actions, by_day_end.journey_events)
        # the stages hand their counts to Flink at most a second apart, on their next record:
        # clicks of new customers reach every subtask (and decide nothing); the first round
        # brings the day's counts in, the second the first round's
        flush = flush_metrics(s)
        deadline = time.monotonic() + 60
        while True:
            samples = _scrape(port)
            records_in = _sum(samples, "_records_in", ("topic",))
            clicks = records_in[(_label(s.topics.clickstream),)]
            if clicks >= sent[s.topics.clickstream] + flush // 2 or time.monotonic() > deadline:
                break
            time.sleep(1)
        # what came out by now: as many as the metrics counted (and then a little more)
        counted = [
            {"journey_id": j, "action_type": a, "channel": c}
            for (j, a, c), n in _sum(samples, "_actions_sent", ("journey", "type", "channel")).items()
            for _ in range(n)
        ]
        actions, events = read_outputs(s, counted, by_day_end.journey_events, timeout_s=30)
    finally:
        client.cancel().result()
    # every record of the day counted under its topic (the reporter writes . and - as _); of the
    # flush clicks at least the first round
    clicks_in = records_in.pop((_label(s.topics.clickstream),))
    assert sent[s.topics.clickstream] + flush // 2 <= clicks_in <= sent[s.topics.clickstream] + flush
    del sent[s.topics.clickstream]
    want_in = Counter({(_label(topic),): n for topic, n in sent.items()})
    assert records_in == want_in, f"metrics {sorted(records_in.items())} != sent {sorted(want_in.items())}"
    actions_out = actions
    actions = _sum(samples, "_actions_sent", ("journey", "type", "channel"))
    want_actions = Counter((a["journey_id"], a["action_type"], a["channel"]) for a in actions_out)
    assert actions == want_actions, f"metrics {sorted(actions.items())} != out {sorted(want_actions.items())}"
    suppressed = _sum(samples, "_suppressions", ("journey", "reason"))
    assert suppressed == Counter(
        (e["journey_id"], e["reason"]) for e in events if e["event_type"] == "suppressed"
    )
    latency = _sum(samples, "_decision_latency_ms_bucket", ("le",))
    assert latency[("Inf",)] == len(actions_out)
    assert _sum(samples, "_decision_latency_ms_count", ())[()] == len(actions_out)


def _label(value: str) -> str:
    """A label value as Flink's Prometheus reporter writes it."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", value)
