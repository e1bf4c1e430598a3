"""`journeyctl`: one command for the things people do with the journey engine.

journeyctl stack up|down|status     the local Kafka, schema registry, PostgreSQL and Debezium
journeyctl run journey [--bounded]  the journey job on a local MiniCluster (or the cluster
                                    that `flink run` submits it to)
journeyctl replay FILE              a recorded event file into Kafka, in its own time
journeyctl shop                     the sample shop live: SQL into its databases, clicks to Kafka
journeyctl send                     the channel sender: actions rendered and delivered, feedback back
journeyctl run results              journey results (Flink SQL) into journey-metrics
journeyctl report                   those results as a table and charts
journeyctl demo                     the stack, a recorded shop day, the journey job, the actions;
                                    then the shop live through its databases
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from common.settings import STACK_SCRIPT, DeliveryMode, Settings


def _settings(args: argparse.Namespace) -> Settings:
    """Environment first, then the flags given on the command line."""
    overrides: dict[str, Any] = {}
    base = Settings()
    if getattr(args, "bootstrap_servers", None):
        overrides["kafka"] = base.kafka.model_copy(update={"bootstrap_servers": args.bootstrap_servers})
    flink: dict[str, Any] = {}
    if getattr(args, "parallelism", None):
        flink["parallelism"] = args.parallelism
    if getattr(args, "checkpoint_interval_ms", None):
        flink["checkpoint_interval_ms"] = args.checkpoint_interval_ms
    if flink:
        overrides["flink"] = base.flink.model_copy(update=flink)
    if getattr(args, "delivery", None):
        overrides["sink"] = base.sink.model_copy(update={"delivery": DeliveryMode(args.delivery)})
    relay: dict[str, Any] = {}
    if getattr(args, "input", None):
        relay["input"] = args.input
    if getattr(args, "output", None):
        relay["output"] = args.output
    if relay:
        overrides["relay"] = base.relay.model_copy(update=relay)
    return base.model_copy(update=overrides) if overrides else base


def _add_job_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (JOURNEY_KAFKA__BOOTSTRAP_SERVERS)")
    p.add_argument("--parallelism", type=int, help="operator parallelism (JOURNEY_FLINK__PARALLELISM)")
    p.add_argument(
        "--checkpoint-interval-ms",
        type=int,
        help="checkpoint interval; outputs become visible on each checkpoint in exactly-once mode",
    )
    p.add_argument(
        "--delivery",
        choices=[m.value for m in DeliveryMode],
        help="exactly-once (transactions, default) or at-least-once",
    )


def cmd_stack(args: argparse.Namespace) -> int:
    return subprocess.call([sys.executable, str(STACK_SCRIPT), args.action, *args.services])


def cmd_run(args: argparse.Namespace) -> int:
    import importlib

    from connectors.admin import KafkaUnreachable, committed_partitions, ensure_topics
    from connectors.avro import RegistryUnavailable
    from jobs.environment import create_environment
    from jobs.recovery import EmptyStateRefused, checkpoint_folder, choose_start

    settings = _settings(args)
    # every job module has the same shape: topics, kafka_connectors, build_pipeline, describe
    job = importlib.import_module(f"jobs.{args.job}")
    try:
        ensure_topics(settings, job.topics(settings))
    except KafkaUnreachable as e:
        print(f"{args.job}: {e}", file=sys.stderr, flush=True)
        return 2
    name = args.job_name or args.job
    folder = checkpoint_folder(settings.flink.checkpoint_dir, name)
    try:
        # the group's commits matter only when neither a path nor --fresh says where to start
        asked = args.restore_from or args.fresh
        committed = (
            0 if asked else committed_partitions(settings, settings.consumer_group, job.topics(settings))
        )
        start = choose_start(folder, args.restore_from, args.fresh, settings.consumer_group, committed)
    except (EmptyStateRefused, FileNotFoundError) as e:
        print(f"{args.job}: {e}", file=sys.stderr, flush=True)
        return 2
    print(f"{args.job}: {start.why}; checkpoints in {folder}", flush=True)
    if args.bounded and start.restore_from is not None:
        print(
            f"{args.job}: warning: a bounded run restored from a checkpoint reads to the end of its "
            "input but does not finish (Flink's Kafka source, FLINK-31006): once `journeyctl status` "
            "shows no input lag, stop it draining (`flink stop --drain`), or run with --fresh",
            file=sys.stderr,
            flush=True,
        )
    settings = settings.model_copy(
        update={
            "flink": settings.flink.model_copy(
                update={"checkpoint_dir": str(folder), "restore_from": str(start.restore_from or "")}
            )
        }
    )
    if hasattr(job, "with_sql_jars"):
        settings = job.with_sql_jars(settings)
    env = create_environment(settings)
    sources, sinks = job.kafka_connectors(settings, bounded=args.bounded)
    try:
        submitted = job.build_pipeline(env, sources, sinks, settings)
    except RegistryUnavailable as e:
        print(f"{args.job}: {e}", file=sys.stderr, flush=True)
        return 2
    print(
        f"{args.job}: {job.describe(settings)} ({settings.sink.delivery.value}, parallelism "
        f"{settings.flink.parallelism}); "
        + ("stops at the end of the input" if args.bounded else "Ctrl-C to stop"),
        flush=True,
    )
    started = time.monotonic()
    from pyflink.table import TableResult

    if isinstance(submitted, TableResult):  # a SQL job submits itself
        submitted.wait()
    else:
        env.execute(args.job_name or args.job)
    print(f"{args.job}: finished in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from journeyctl import schemas

    settings = _settings(args)
    if args.action == "register":
        print(f"registering the project's schemas at {settings.registry.url}")
        schemas.register(settings)
        return 0
    return schemas.check(settings, registry=args.registry)


def cmd_validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from journeys.loader import DEFINITIONS, JourneyError, load_file

    paths = [Path(p) for p in args.paths] or sorted(DEFINITIONS.glob("*.yaml"))
    files = [f for p in paths for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])]
    bad = 0
    for f in files:
        try:
            j = load_file(f)
            print(f"ok    {f}: {j.id} v{j.version}, {len(j.steps)} steps")
        except JourneyError as e:
            bad += 1
            for problem in e.problems:
                print(f"error {problem}")
    if bad:
        print(f"{bad} of {len(files)} files have errors; docs/journeys.md describes the language.")
    return 1 if bad else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jobs.simulate import Simulation, read_records
    from journeys.definition import duration_ms
    from journeys.loader import DEFINITIONS, load_dir

    sim = Simulation(load_dir(Path(args.journeys) if args.journeys else DEFINITIONS))
    sim.run(read_records(Path(args.file)), drain_ms=duration_ms(args.drain))
    if args.format == "json":
        for a in sim.actions:
            print(json.dumps({"action": a}, sort_keys=True))
        for e in sim.journey_events:
            print(json.dumps({"journey_event": e}, sort_keys=True))
    else:
        print(f"{len(sim.actions)} actions:")
        for a in sim.actions:
            when, who = _iso(a["send_after"]), a["customer_id"]
            print(
                f"  {when}  {who:6s} {a['journey_id']:22s} {a['action_type']:22s} {a['channel']:7s} "
                f"{a['purpose']:13s} {a['reason']}"
            )
        shown = [e for e in sim.journey_events if e["event_type"] not in ("step", "branch", "waiting")]
        print(f"{len(sim.journey_events)} journey events; without step, branch and waiting:")
        for e in shown:
            what = e["reason"] or e["action_type"] or ""
            when, who = _iso(e["occurred_at"]), e["customer_id"]
            print(f"  {when}  {who:6s} {e['journey_id']:22s} {e['event_type']:10s} {what}")
    print("counts: " + ", ".join(f"{k}={v}" for k, v in sorted(sim.counts.items())))
    return 0


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def cmd_sample_data(args: argparse.Namespace) -> int:
    from pathlib import Path

    from journeyctl.sample_data import shop_day, write
    from journeyctl.sample_night import shop_night

    for lines, out in ((shop_day, args.out), (shop_night, args.night_out)):
        n = write(Path(out), lines())
        print(f"wrote {n} records to {out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.suite == "codecs":
        from benchmarks import codecs

        return codecs.main(args.records)
    if args.suite == "engine":
        from benchmarks import engine

        return engine.main(args.records)
    if args.suite == "job":
        from benchmarks import journey_job

        return journey_job.main(
            customers=args.customers,
            skus=args.skus,
            events=args.records,
            waits=args.waits,
            figures=tuple(args.only or journey_job.FIGURES),
            where=tuple(args.on or journey_job.WHERE),
            spread_s=args.spread_s,
            wait_s=args.wait_s,
            baseline=not args.no_baseline,
        )
    if args.suite == "compare":
        from journeyctl import compare

        return compare.run(args)
    raise SystemExit(f"unknown benchmark {args.suite!r}")


def cmd_status(args: argparse.Namespace) -> int:
    from jobs.status import Unreachable, describe, jobs, rest_urls

    settings = _settings(args)
    urls = rest_urls(settings, args.rest)
    found, unreachable = [], []
    for url in urls:
        try:
            found += [(url, j) for j in jobs(url, include_ended=args.all)]
        except Unreachable as e:
            unreachable.append(e)
    if not found:
        if len(unreachable) == len(urls):
            where = args.rest or (
                f"{settings.flink.rest_url} (the cluster) or on 127.0.0.1:"
                f"{settings.flink.embedded_rest_ports} (a `journeyctl run` MiniCluster)"
            )
            print(
                f"no Flink answered at {where}: start the job or the cluster "
                "(`python3 deploy/local/cluster.py up`), or pass your cluster's address with --rest",
                file=sys.stderr,
            )
            return 2
        print("no job is running (--all shows ended ones)")
        return 0
    alerting = False
    for url, job in found:
        print(f"{url}:")
        print("\n".join(describe(job)))
        alerting = alerting or bool(job.alerts())
    _print_lag(settings)
    return 1 if alerting else 0


def _print_lag(settings: Settings) -> None:
    """The inputs not yet in a completed checkpoint (the source commits offsets on each one)."""
    from confluent_kafka import KafkaException

    from connectors.admin import lag

    group = settings.consumer_group
    try:
        committed, total = lag(settings, group, settings.topics.inputs())
    except (KafkaException, KeyError) as e:
        print(f"input lag of group {group}: not known ({e})")
        return
    print(f"input lag of group {group}: {total - committed:,} records ({committed:,} of {total:,} committed)")


def cmd_replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from connectors.admin import ensure_topics
    from jobs import journey
    from journeyctl.replay import replay_file

    settings = _settings(args)
    ensure_topics(settings, journey.topics(settings))
    n = replay_file(settings, Path(args.file))
    print(f"replayed {n} records from {args.file} to {settings.kafka.bootstrap_servers}")
    return 0


def cmd_shop(args: argparse.Namespace) -> int:
    from connectors.admin import ensure_topics
    from journeyctl.live_shop import SYSTEMS, Shop, day, play

    settings = _settings(args)
    ensure_topics(settings, [settings.topics.clickstream])
    shop = Shop(settings, tag=args.tag)
    print(
        f"the shop live, run {shop.tag}: SQL into {settings.sources.host}:{settings.sources.port} "
        f"({', '.join(SYSTEMS)}), clicks into {settings.topics.clickstream}",
        flush=True,
    )
    try:
        play(shop, day(shop), speed=args.speed)
    finally:
        shop.close()
    print("done: Debezium has the changes in the CDC topics; `journeyctl run journey` acts on them")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from journeyctl import send

    return send.run(send.settings_for(_settings(args), args), args)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from journeyctl.report import run

    return run(_settings(args), Path(args.charts) if args.charts else None)


def cmd_demo(args: argparse.Namespace) -> int:
    from journeyctl.demo import run_demo

    return run_demo(_settings(args))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="journeyctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("stack", help="start, stop or check the local Kafka and schema registry")
    s.add_argument("action", choices=["up", "down", "status", "fetch", "env"])
    s.add_argument("services", nargs="*", help="kafka, registry (default: all)")
    s.set_defaults(func=cmd_stack)

    r = sub.add_parser("run", help="run a job on a local MiniCluster, or submit it with `flink run -py`")
    r.add_argument(
        "job",
        choices=["journey", "results", "relay", "ingest"],
        help="journey: the journey engine; results: journey results (Flink SQL) to journey-metrics; "
        "relay: copy a topic (smoke test); ingest: decode every input, dead-letter the bad ones",
    )
    r.add_argument("--bounded", action="store_true", help="stop at the offsets that are latest at start")
    r.add_argument("--input", help="relay: input topic")
    r.add_argument("--output", help="relay: output topic")
    r.add_argument("--job-name", help="the job's name in Flink, and its checkpoint folder's")
    r.add_argument(
        "--from",
        dest="restore_from",
        metavar="PATH",
        help="restore from this savepoint or checkpoint (default: the job's latest retained checkpoint)",
    )
    r.add_argument(
        "--fresh",
        action="store_true",
        help="start with empty state even if the consumer group has committed offsets (they are kept)",
    )
    _add_job_flags(r)
    r.set_defaults(func=cmd_run)

    st = sub.add_parser(
        "status",
        help="the running jobs' state, restarts and checkpoints; exit 1 when one needs a person",
    )
    st.add_argument("--rest", help="Flink's REST address (default: the cluster's, then an embedded run's)")
    st.add_argument("--all", action="store_true", help="ended jobs too")
    st.set_defaults(func=cmd_status)

    sc = sub.add_parser(
        "schemas", help="register the owned Avro schemas, or check a change is backward compatible"
    )
    sc.add_argument("action", choices=["register", "check"])
    sc.add_argument(
        "--registry",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check: also against the registry (default: if it answers)",
    )
    sc.set_defaults(func=cmd_schemas)

    v = sub.add_parser("validate", help="check journey files: every error with its file and line")
    v.add_argument("paths", nargs="*", help="files or folders (default: the shipped definitions)")
    v.set_defaults(func=cmd_validate)

    sm = sub.add_parser("simulate", help="run the journeys over a recorded event file, without Flink")
    sm.add_argument("file", help="JSON lines: {topic, key, value} records, or bare Segment calls")
    sm.add_argument("--journeys", help="folder of journey files (default: the shipped definitions)")
    sm.add_argument("--drain", default="30d", help="journey time to run on after the last record")
    sm.add_argument("--format", choices=["table", "json"], default="table")
    sm.set_defaults(func=cmd_simulate)

    rp = sub.add_parser(
        "replay", help="write a recorded event file into Kafka, each record stamped with its own time"
    )
    rp.add_argument("file", help="JSON lines, as `simulate` reads them")
    _add_job_flags(rp)
    rp.set_defaults(func=cmd_replay)

    sd = sub.add_parser(
        "sample-data",
        help="write the recorded sample day (samples/shop.jsonl) and nights (samples/night.jsonl)",
    )
    sd.add_argument("--out", default="samples/shop.jsonl")
    sd.add_argument("--night-out", default="samples/night.jsonl")
    sd.set_defaults(func=cmd_sample_data)

    sh = sub.add_parser(
        "shop",
        help="play the sample shop live: SQL into its databases (Debezium captures it), clicks into Kafka",
    )
    sh.add_argument("--tag", default=None, help="suffix of every key the run writes (default: a new one)")
    sh.add_argument("--speed", type=float, default=1.0, help="play the steps this many times faster")
    _add_job_flags(sh)
    sh.set_defaults(func=cmd_shop)

    b = sub.add_parser("bench", help="run a benchmark and print its figures")
    b.add_argument(
        "suite",
        choices=["codecs", "engine", "job", "compare"],
        help="codecs: decode/encode per format; engine: the journey engine alone; "
        "job: the Flink job through the local Kafka (throughput, latency, timer lateness); "
        "compare: the job beside JVM-only Flink SQL, one Python process, Quix Streams and Bytewax",
    )
    b.add_argument(
        "--records",
        type=int,
        default=50_000,
        help="records (codecs), events (engine) per round, or clicks in the job's backlog",
    )
    b.add_argument("--customers", type=int, default=100_000, help="job: customers in the CRM snapshot")
    b.add_argument("--skus", type=int, default=10_000, help="job: SKUs in the catalogue")
    b.add_argument(
        "--waits", type=int, default=1_000_000, help="job, compare: pending waits for timer lateness"
    )
    b.add_argument(
        "--wait-s",
        type=int,
        default=None,
        help="job: how long each wait lasts; it must outlast the spread and reading every entry "
        "(default: spread + 120 s + 1 s per 2,000 waits)",
    )
    b.add_argument(
        "--spread-s",
        type=int,
        default=1_800,
        help="job, compare: the waits' due moments spread over this many seconds",
    )
    b.add_argument(
        "--only",
        action="append",
        choices=["throughput", "latency", "commit", "startup", "timers"],
        help="job: only these figures (repeatable; default: all)",
    )
    b.add_argument(
        "--on",
        action="append",
        choices=["minicluster", "cluster"],
        help="job: where the job runs (repeatable; default: the MiniCluster and the standalone cluster)",
    )
    b.add_argument(
        "--no-baseline", action="store_true", help="job: skip the plain-Python baseline beside the throughput"
    )
    from journeyctl import compare

    compare.add_arguments(b)
    b.set_defaults(func=cmd_bench)

    from journeyctl import send

    se = send.add_parser(sub)
    se.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (JOURNEY_KAFKA__BOOTSTRAP_SERVERS)")
    se.set_defaults(func=cmd_send)

    rr = sub.add_parser(
        "report",
        help="journey results: entries, actions, conversions, revenue to cost, uplift; charts",
    )
    rr.add_argument("--charts", help="folder for funnel.png and uplift.png (default .stack/report)")
    rr.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (JOURNEY_KAFKA__BOOTSTRAP_SERVERS)")
    rr.set_defaults(func=cmd_report)

    d = sub.add_parser(
        "demo", help="start the stack, replay a recorded shop day, run the journey job, show the actions"
    )
    _add_job_flags(d)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
