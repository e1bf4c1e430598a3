"""`make bench-timers` (`journeyctl bench compare --timers`): timer lateness of the job and of the
peer with per-key timers (Bytewax; Quix Streams has none), one after the other on the otherwise
idle machine.

Each gets `waits` carts that wait a fixed time, due evenly over `spread_s`
(`benchmarks.journey_job.timers`): lateness p50/p99/max from each wait's due moment to its action
seen by a read_committed consumer, the highest firing rate over 10 s, and the peak memory of its
processes holding them all. At a million waits over 30 minutes this takes about 45 minutes per
contender, which is why it is not part of `make bench`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.compare.contenders import CONTENDERS, Contender
from benchmarks.compare.measure import PeakMemory
from benchmarks.compare.report import Figures, save, timer_ratios, timers_table, write_docs
from benchmarks.compare.run import LOGS, on_stop
from common.settings import REPO, Settings


@dataclasses.dataclass(frozen=True)
class TimerRun:
    waits: int = 1_000_000
    spread_s: int = 1_800


def measure_timers(
    contender: Contender, base: Settings, folder: Path, run: TimerRun, say: Callable[[str], None]
) -> Figures:
    """The job's settings are its contender's (`adapt`): at-least-once and its latency target's
    out-of-orderness."""
    from benchmarks.journey_job import timers

    f = Figures(contender.key, contender.label, caveats=contender.caveats)
    memory: list[PeakMemory] = []

    @contextlib.contextmanager
    def running(s: Settings) -> Iterator[None]:
        started = contender.start(contender.adapt(s), LOGS)
        memory.append(PeakMemory(started.pids))
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
        )
        f.timer_p50_ms, f.timer_p99_ms, f.timer_max_ms, f.firings_per_s = p50, p99, top, rate
    except Exception as e:  # reported in its row; the other contender still runs
        f.error = str(e)
        say(f"    failed: {e} (its log: {LOGS})")
    finally:
        if memory:
            f.peak_mb = memory[0].close()
    return f


def main(run: TimerRun, docs: bool = True, name: str = "timers") -> int:
    def say(text: str) -> None:
        print(text, flush=True)

    on_stop()
    # the job first: the row the ratio is about
    keys = sorted((k for k, c in CONTENDERS.items() if c.timers), key=lambda k: not k.startswith("job"))
    when = datetime.now(UTC)
    folder = LOGS / when.strftime("%Y%m%d-%H%M%S-timers")
    folder.mkdir(parents=True, exist_ok=True)
    say(f"make bench-timers: {', '.join(keys)}, each with {run.waits:,} waits due over {run.spread_s} s")
    figures = [measure_timers(CONTENDERS[k], Settings(), folder, run, say) for k in keys]
    rows = timer_ratios(figures)
    text = timers_table(figures, rows)
    say("\n" + text)
    path = save(
        when,
        name,
        {
            "waits": run.waits,
            "spread_s": run.spread_s,
            "contenders": [dataclasses.asdict(f) for f in figures],
            "ratios": rows,
        },
    )
    say(f"\nfigures: {path.relative_to(REPO)}")
    if docs:
        write_docs("make bench-timers", text, when, path)
        say("table written to docs/performance.md")
    return 1 if any(f.error for f in figures) else 0
