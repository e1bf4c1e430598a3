"""The contenders of `make bench`, each started as it would be deployed and stopped after its
figures: the journey job (MiniCluster, standalone cluster; at-least-once, exactly-once), the
JVM-only Flink SQL job, the single Python process, Quix Streams and Bytewax.

Each reads the same input topics with a consumer group of its own and writes to output topics
of its own (`Settings` of its run, handed over in the environment). It runs in processes of its
own, in a process group of its own, so that its memory can be measured and all of it stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.compare import jvm_sql
from benchmarks.compare.measure import Trigger
from benchmarks.journey_job import cluster_rest, submit_to_cluster
from common.settings import REPO, DeliveryMode, Settings
from connectors.readback import output_decoder

#: the classes of a standalone cluster's JVMs: its memory is theirs
CLUSTER_MAINS = (
    "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
    "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
)


@dataclass
class Running:
    pids: Callable[[], list[int]]
    alive: Callable[[], bool]
    stop: Callable[[], None]


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    start: Callable[[Settings, Path], Running]
    outputs: Callable[[Settings], list[str]]
    trigger: Callable[[Settings], Trigger]
    #: how often its progress is committed (a checkpoint, a commit interval), in seconds: every
    #: contender is set to the job's checkpoint interval
    interval_s: float = 1.0
    #: its settings from the run's (delivery guarantee, parallelism)
    adapt: Callable[[Settings], Settings] = lambda s: s
    #: what it does not do as the journey job does
    caveats: str = ""
    #: its timer lateness is measured: the job as its latency target runs it (MiniCluster,
    #: at-least-once), and the peer with per-key timers (Quix Streams has none)
    timers: bool = False
    #: it writes one record per input: its progress is counted from its outputs
    counted: bool = False
    #: its topics get short names (Quix Streams names its internal topics after all its inputs',
    #: which must stay under Kafka's 249 characters)
    short_topics: bool = False


def process(
    cmd: list[str], settings: Settings, log: Path, extra_env: dict[str, str] | None = None
) -> Running:
    """`cmd` in a process group of its own, its settings in the environment, its output in `log`."""
    return processes([cmd], settings, log, [extra_env or {}])


#: how long a contender's processes get to end after SIGTERM, before SIGKILL
STOP_GRACE_S = 20.0


def _group_gone(leader: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Whether every process of `leader`'s group has exited within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        leader.poll()  # reaped, or the leader counts as a member until the end
        try:
            os.killpg(leader.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def processes(
    cmds: list[list[str]], settings: Settings, log: Path, extra_env: list[dict[str, str]] | None = None
) -> Running:
    """Each of `cmds` in a process group of its own (a contender of several processes)."""
    out = log.open("ab")
    started = []
    for cmd, extra in zip(cmds, extra_env or [{}] * len(cmds), strict=True):
        env = {**os.environ, **settings.environment(), **extra}
        started.append(
            subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
            )
        )

    def stop() -> None:
        for p in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in started:
            # the whole group, not only its leader: PyFlink's JVM outlived its Python process
            # (a shutdown hook that never ended) and took 15-50 % of a core from the contenders
            # after it, until killed
            if not _group_gone(p, STOP_GRACE_S):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                _group_gone(p, 10)
        out.close()

    return Running(lambda: [p.pid for p in started], lambda: all(p.poll() is None for p in started), stop)


def _actions_and_events(s: Settings) -> list[str]:
    return [*s.topics.actions.values(), s.topics.journey_events]


def _action_trigger(s: Settings) -> Trigger:
    decode = output_decoder(s)
    actions = set(s.topics.actions.values())

    def trigger(topic: str, value: bytes) -> str | None:
        return decode(topic, value).get("trigger_event_id") if topic in actions else None

    return trigger


def _json_trigger(s: Settings) -> Trigger:
    def trigger(topic: str, value: bytes) -> str | None:
        event_id: str | None = json.loads(value).get("event_id")
        return event_id

    return trigger


def _journeyctl() -> str:
    return str(Path(sys.executable).parent / "journeyctl")


def _minicluster(s: Settings, folder: Path) -> Running:
    return process([_journeyctl(), "run", "journey"], s, folder / f"{s.consumer_group}.log")


def cluster_pids() -> list[int]:
    """The standalone cluster's JobManager and TaskManagers."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue
            if any(main.encode() in cmdline for main in CLUSTER_MAINS):
                found.append(int(entry.name))
    return found


def _cluster(s: Settings, folder: Path) -> Running:
    job = submit_to_cluster(s)

    def alive() -> bool:
        return bool(cluster_rest(f"/jobs/{job}").get("state") in ("RUNNING", "CREATED", "INITIALIZING"))

    return Running(cluster_pids, alive, lambda: cluster_rest(f"/jobs/{job}?mode=cancel", "PATCH"))


#: the job's journey time waits this long for records that come out of order (2,000 ms by
#: default, for CDC from several databases); 100 ms is its latency target's setting
#: (docs/performance.md), and the peers wait for none
OUT_OF_ORDERNESS_MS = 100


def _delivery(mode: DeliveryMode) -> Callable[[Settings], Settings]:
    def adapt(s: Settings) -> Settings:
        journeys = s.journeys.model_copy(update={"out_of_orderness_ms": OUT_OF_ORDERNESS_MS})
        return s.model_copy(
            update={"sink": s.sink.model_copy(update={"delivery": mode}), "journeys": journeys}
        )

    return adapt


def _jvm(s: Settings, folder: Path) -> Running:
    return process(
        [sys.executable, "-m", "benchmarks.compare.jvm_sql"], s, folder / f"{s.consumer_group}.log"
    )


def _baseline(s: Settings, folder: Path) -> Running:
    return process([sys.executable, "-m", "benchmarks.baseline"], s, folder / f"{s.consumer_group}.log")


ALO, EO = DeliveryMode.AT_LEAST_ONCE, DeliveryMode.EXACTLY_ONCE
#: Bytewax runs two processes, as the job runs at parallelism 2 (Quix Streams one: see `_quix`)
PEER_PROCESSES = 2


def peer_python(name: str) -> str:
    """The interpreter of a peer's own venv (`make bench` makes it from benchmarks/compare/peers/)."""
    python = REPO / f".venv-{name}" / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"{python} is missing: `make peers` makes it")
    return str(python)


def _quix(s: Settings, folder: Path) -> Running:
    """One process. Two stalled (3.28.1): a process joining the group rebalances it, and when that
    lands while the time-alignment buffer of `concat` has paused a full partition, the partition
    stays paused in the consumer while the buffer forgets it. Starting both at the same moment
    did not help, and one process went as fast as two had before (1,577 against 1,474 events/s)."""
    return process(
        [peer_python("quix"), "-m", "benchmarks.compare.peers.quix_app"],
        s,
        folder / f"{s.consumer_group}.log",
        {"PYTHONPATH": str(REPO), "QUIX_STATE_DIR": str(folder / f"{s.consumer_group}-quix-state")},
    )


def _bytewax(s: Settings, folder: Path) -> Running:
    python = peer_python("bytewax")
    recovery = folder / f"{s.consumer_group}-bytewax-recovery"
    recovery.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # one recovery partition per process; snapshots every second, as the job checkpoints
    subprocess.run(
        [python, "-m", "bytewax.recovery", str(recovery), str(PEER_PROCESSES)], check=True, env=env
    )
    addresses = ";".join(f"127.0.0.1:{2101 + i}" for i in range(PEER_PROCESSES))
    flow = "benchmarks.compare.peers.bytewax_flow:flow"
    cmds = [
        [
            python,
            "-m",
            "bytewax.run",
            flow,
            "-i",
            str(i),
            "-a",
            addresses,
            "-r",
            str(recovery),
            "-s",
            "1",
            "-b",
            "0",
        ]
        for i in range(PEER_PROCESSES)
    ]
    return processes(
        cmds, s, folder / f"{s.consumer_group}.log", [{"PYTHONPATH": str(REPO)}] * PEER_PROCESSES
    )


def _job(where: str, mode: DeliveryMode) -> Contender:
    place = "MiniCluster" if where == "minicluster" else "standalone cluster, 2 TaskManagers"
    return Contender(
        key=f"job-{where}-{'eo' if mode == EO else 'alo'}",
        label=f"this job, {place}, {mode.value}",
        start=_minicluster if where == "minicluster" else _cluster,
        outputs=_actions_and_events,
        trigger=_action_trigger,
        adapt=_delivery(mode),
        caveats=f"out-of-orderness {OUT_OF_ORDERNESS_MS} ms (2,000 by default: its actions wait about "
        "2 s more)",
        timers=where == "minicluster" and mode == ALO,
    )


CONTENDERS: dict[str, Contender] = {
    c.key: c
    for c in (
        Contender(
            key="jvm-sql",
            label="JVM-only Flink SQL (decode, key by customer, one record out per input)",
            start=_jvm,
            outputs=lambda s: [jvm_sql.output_topic(s)],
            trigger=_json_trigger,
            caveats="no journey logic: the cost of Flink itself; at-least-once; JSON out",
            counted=True,
        ),
        Contender(
            key="python",
            label="single Python process (the engine and catalogue, confluent-kafka)",
            start=_baseline,
            outputs=_actions_and_events,
            trigger=_action_trigger,
            caveats="no durability (state in memory, lost with the process), no event-time order "
            "across partitions, one core",
        ),
        Contender(
            key="quix",
            label="Quix Streams 3, exactly-once, RocksDB state (1 process)",
            start=_quix,
            outputs=_actions_and_events,
            trigger=_action_trigger,
            caveats="cart and delivery journeys only; no per-key timers (a wait falls due at the "
            "customer's next event); the stock join through two repartition topics; stores read once; "
            "one process (two stalled in a rebalance)",
            short_topics=True,
        ),
        Contender(
            key="bytewax",
            label="Bytewax 0.21, recovery every second (2 processes)",
            start=_bytewax,
            outputs=_actions_and_events,
            trigger=_action_trigger,
            caveats="cart and delivery journeys only; at-least-once sink; timers on the clock, not "
            "journey time; stores read once",
            timers=True,
        ),
        _job("minicluster", ALO),
        _job("minicluster", EO),
        _job("cluster", ALO),
        _job("cluster", EO),
    )
}
