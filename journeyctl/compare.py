"""`journeyctl bench compare` (`make bench`): the journey job beside JVM-only Flink SQL, one Python
process, Quix Streams and Bytewax, on one shop; see `benchmarks.compare.run`. With `--timers`
(`make bench-timers`): timer lateness of the job and Bytewax, see `benchmarks.compare.timers`."""

from __future__ import annotations

import argparse

#: `--quick`: a shop small enough to try the whole run in a few minutes
QUICK = {"customers": 20_000, "skus": 2_000, "sessions": 15_000, "latency_s": 15.0}


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("--sessions", type=int, default=60_000, help="compare: browsing sessions in the shop")
    b.add_argument(
        "--contender",
        action="append",
        help="compare: only these contenders (repeatable; default: all; benchmarks/compare/contenders.py)",
    )
    b.add_argument("--latency-s", type=float, default=20.0, help="compare: seconds of live load measured")
    b.add_argument("--quick", action="store_true", help="compare: a small shop (20k customers) to try it")
    b.add_argument(
        "--no-docs", action="store_true", help="compare: do not write the table into docs/performance.md"
    )
    b.add_argument(
        "--timers",
        action="store_true",
        help="compare: instead, timer lateness of the job and Bytewax with --waits due over --spread-s "
        "(1,000,000 over 1,800 s: ~90 min; --quick: 100,000 over 60 s)",
    )


def run(args: argparse.Namespace) -> int:
    from benchmarks.compare.contenders import CONTENDERS
    from benchmarks.compare.run import main
    from benchmarks.compare.workload import Shop

    # a quick run's figures are for trying it: they never replace the tables in the docs
    docs = not (args.no_docs or args.quick)
    if args.timers:
        from benchmarks.compare import timers

        waits, spread = (100_000, 60) if args.quick else (args.waits, args.spread_s)
        return timers.main(
            timers.TimerRun(waits, spread), docs=docs, name="timers-quick" if args.quick else "timers"
        )

    sizes = dict(customers=args.customers, skus=args.skus, sessions=args.sessions, latency_s=args.latency_s)
    if args.quick:
        sizes |= QUICK
    shop = Shop(customers=int(sizes["customers"]), skus=int(sizes["skus"]), sessions=int(sizes["sessions"]))
    keys = args.contender or list(CONTENDERS)
    name = "quick" if args.quick else ""
    return main(shop, keys, latency_s=float(sizes["latency_s"]), docs=docs, name=name)
