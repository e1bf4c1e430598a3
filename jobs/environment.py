"""The Flink execution environment: thread mode, checkpoints, RocksDB, a bounded restart strategy."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from pyflink.common import Configuration, JobClient
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from common.settings import Settings


def flink_config_values(settings: Settings) -> dict[str, str]:
    """The job's Flink configuration as plain keys, so it can be checked without a JVM."""
    f = settings.flink
    values = {
        # Process mode costs 5-10x more per keyed record on these machines (docs/pyflink-performance.md).
        "python.execution-mode": "thread",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "pipeline.jars": ";".join(Path(j).resolve().as_uri() for j in settings.resolved_jars()),
        "parallelism.default": str(f.parallelism),
        "execution.checkpointing.interval": f"{f.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.dir": Path(f.checkpoint_dir).resolve().as_uri(),
        "execution.checkpointing.incremental": "true",
        "state.backend.type": f.state_backend,
        # latency: Flink's defaults add up to over half a second per record (docs/performance.md)
        "pipeline.auto-watermark-interval": f"{f.watermark_interval_ms} ms",
        "execution.buffer-timeout.interval": f"{f.buffer_timeout_ms} ms",
        "python.fn-execution.bundle.time": str(f.python_bundle_time_ms),
        # read when this process starts a MiniCluster; a cluster's TaskManagers have theirs
        **({"taskmanager.memory.managed.size": f"{f.managed_memory_mb} mb"} if f.managed_memory_mb else {}),
        # A failing job with checkpoints on would otherwise restart forever.
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": str(f.restart_attempts),
        "restart-strategy.fixed-delay.delay": f"{f.restart_delay_ms} ms",
    }
    values.update(f.extra)
    return values


def flink_configuration(settings: Settings) -> Configuration:
    conf = Configuration()
    for k, v in flink_config_values(settings).items():
        conf.set_string(k, v)
    return conf


def _embedded_python_path() -> None:
    # In thread mode the JVM embeds CPython through pemja; that interpreter finds our venv's
    # packages only through PYTHONPATH ("No module named pemja" otherwise).
    paths = [*site.getsitepackages(), str(Path(__file__).resolve().parent.parent)]
    current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *current]))


def create_environment(settings: Settings) -> StreamExecutionEnvironment:
    """A local MiniCluster when run from Python; the cluster's own when submitted with `flink run`."""
    _embedded_python_path()
    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(settings))
    env.set_parallelism(settings.flink.parallelism)
    return env


def stop_with_savepoint(client: JobClient, folder: Path, drain: bool = False) -> str:
    """Stop a job with a savepoint in `folder`; its path. `drain` first moves journey time to the
    end (every open wait fires), for a job that will not be resumed.

    PyFlink 2.2's `JobClient.stop_with_savepoint` calls a Java overload that Flink 2 removed,
    so this calls the one with the savepoint format (canonical: portable across state backends).
    """
    gateway = get_gateway()
    canonical = gateway.jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    future = client._j_job_client.stopWithSavepoint(drain, folder.resolve().as_uri(), canonical)
    return str(future.get())
