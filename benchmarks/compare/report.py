"""What `make bench` and `make bench-timers` write: the figures per contender, the tables with
their ratios, the results file and chart in benchmarks/results/, and the tables in
docs/performance.md with the machine they came from."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from common.settings import REPO

RESULTS = REPO / "benchmarks" / "results"
DOC = REPO / "docs" / "performance.md"
#: the share of its own peak at which each contender's latency is measured
LOAD = 0.8


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
#: the timers run: the job as its latency target runs it beside the peer with per-key timers
TIMER_RATIOS = (("this job / Bytewax", "job-minicluster-alo", "bytewax"),)


def _over(x: float, y: float) -> float:
    return x / y if y and not math.isnan(y) else math.nan


def _ratios(
    figures: list[Figures], pairs: tuple[tuple[str, str, str], ...], of: dict[str, str]
) -> list[dict[str, Any]]:
    """Per (name, numerator, denominator) of `pairs` whose two contenders ran: the ratio of each
    Figures attribute in `of` (its column name -> attribute)."""
    by = {f.key: f for f in figures}
    return [
        {"ratio": name, **{col: _over(getattr(by[a], at), getattr(by[b], at)) for col, at in of.items()}}
        for name, a, b in pairs
        if a in by and b in by
    ]


def ratios(figures: list[Figures]) -> list[dict[str, Any]]:
    return _ratios(figures, RATIOS, {"throughput": "events_per_s", "p99": "p99_ms", "memory": "peak_mb"})


def timer_ratios(figures: list[Figures]) -> list[dict[str, Any]]:
    return _ratios(figures, TIMER_RATIOS, {"timer_p99": "timer_p99_ms", "firings_per_s": "firings_per_s"})


def _n(v: float | None, fmt: str = ",.0f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _ratio(v: float | None) -> str:
    """Two decimals, or two significant digits below 0.01: a ratio of 0.0008 is not 0.00."""
    return _n(v, ".2f" if v is None or math.isnan(v) or abs(v) >= 0.01 else ".2g")


def _caveats(figures: list[Figures]) -> list[str]:
    """What each contender does not do as the job does, under the table."""
    notes = [f"- {f.label}: {f.caveats.strip('; ')}" for f in figures if f.caveats.strip("; ")]
    return ["", *notes] if notes else []


def _md(head: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table: the first column left-aligned, the rest right-aligned."""
    return [
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _tables(
    head: list[str],
    cells: Callable[[Figures], list[str]],
    figures: list[Figures],
    ratio_head: list[str],
    ratio_rows: list[list[str]],
) -> str:
    """The contenders (a failed one shows its error instead of its figures), what they do not do
    as the job does, then the ratios."""
    rows = [
        [f.label, f"failed: {f.error[:80]}", *["-"] * (len(head) - 2)] if f.error else [f.label, *cells(f)]
        for f in figures
    ]
    return "\n".join([*_md(head, rows), *_caveats(figures), "", *_md(ratio_head, ratio_rows)])


def table(figures: list[Figures], rows: list[dict[str, Any]]) -> str:
    return _tables(
        ["contender", "events/s", "latency p50 / p95 / p99 ms (offered /s)", "peak MB"],
        lambda f: [
            _n(f.events_per_s),
            f"{_n(f.p50_ms)} / {_n(f.p95_ms)} / {_n(f.p99_ms)} ({_n(f.offered_per_s)})",
            _n(f.peak_mb),
        ],
        figures,
        ["ratio", "throughput", "p99", "memory"],
        [[r["ratio"], *(_ratio(r[k]) for k in ("throughput", "p99", "memory"))] for r in rows],
    )


def timers_table(figures: list[Figures], rows: list[dict[str, Any]]) -> str:
    return _tables(
        ["contender", "lateness p50 / p99 / max ms", "highest firings/s over 10 s", "peak MB"],
        lambda f: [
            f"{_n(f.timer_p50_ms)} / {_n(f.timer_p99_ms)} / {_n(f.timer_max_ms)}",
            _n(f.firings_per_s),
            _n(f.peak_mb),
        ],
        figures,
        ["ratio", "lateness p99", "firings/s"],
        [[r["ratio"], _ratio(r["timer_p99"]), _ratio(r["firings_per_s"])] for r in rows],
    )


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


def _nulls(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _nulls(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_nulls(x) for x in v]
    return v


def save(when: datetime, name: str, body: dict[str, Any]) -> Path:
    """`benchmarks/results/<date>[-name].json`, with the date and the machine."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / (when.strftime("%Y-%m-%d") + (f"-{name}" if name else "") + ".json")
    body = {"date": when.isoformat(timespec="seconds"), "machine": machine(), **body}
    # a figure a contender has not got is null, not NaN: NaN is not JSON, and jq refuses it
    path.write_text(json.dumps(_nulls(body), indent=2, allow_nan=False) + "\n")
    return path


def chart(figures: list[Figures], path: Path) -> Path:
    """Throughput (log scale) and latency p99 per contender, each bar of the latter labelled with
    the load it was taken at (its share of that contender's own peak)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    done = [f for f in figures if not math.isnan(f.events_per_s)]
    labels = [f.key for f in done]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.5 * len(done) + 1.8))
    left.barh(labels, [f.events_per_s for f in done], color="#4c72b0")
    left.set_xscale("log")
    left.set_xticks([1_000, 2_000, 5_000, 10_000, 20_000, 50_000])
    left.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("events/s (log scale)")
    left.set_title("throughput, backlog")
    p99 = [0 if math.isnan(f.p99_ms) else f.p99_ms for f in done]
    right.barh(labels, p99, color="#dd8452")
    for y, (f, v) in enumerate(zip(done, p99, strict=True)):
        if not math.isnan(f.offered_per_s):
            share = f.offered_per_s / f.events_per_s
            right.annotate(f" at {f.offered_per_s:,.0f}/s ({share:.0%})", (v, y), va="center", fontsize=8)
    right.set_xlabel("ms")
    right.set_title("latency p99, at the load shown")
    right.set_xlim(0, max(p99, default=1) * 1.45)
    right.set_yticklabels([])
    for ax in (left, right):
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_docs(marker: str, text: str, when: datetime, json_path: Path, doc: Path = DOC) -> None:
    """`text` between the `<!-- {marker}: begin/end -->` markers of docs/performance.md, with the
    date and the machine it came from (appended as a section the first time)."""
    begin, end = f"<!-- {marker}: begin -->", f"<!-- {marker}: end -->"
    info = machine()
    body = (
        f"{begin}\n_Written by `{marker}` on {when:%Y-%m-%d} ({info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gb']} GB); figures in `{json_path.relative_to(REPO)}`._\n\n{text}\n{end}"
    )
    old = doc.read_text()
    if begin in old and end in old:
        new = old[: old.index(begin)] + body + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip() + f"\n\n## Side by side: `{marker}`\n\n" + body + "\n"
    doc.write_text(new)
