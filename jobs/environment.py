"""The Flink execution environment: thread mode, retained checkpoints, RocksDB, restarts that wait."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from pyflink.common import Configuration, JobClient
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from common.settings import Settings
from jobs.recovery import is_uri


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
        # RocksDB's LOG files, else beside the interpreter's packages (pyflink/log) or the state
        "state.backend.rocksdb.log.dir": str(Path(f.log_dir).resolve() / "rocksdb"),
        # latency: Flink's defaults add up to over half a second per record (docs/performance.md)
        "pipeline.auto-watermark-interval": f"{f.watermark_interval_ms} ms",
        "execution.buffer-timeout.interval": f"{f.buffer_timeout_ms} ms",
        "python.fn-execution.bundle.time": str(f.python_bundle_time_ms),
        # read when this process starts a MiniCluster; a cluster's TaskManagers have theirs
        **({"taskmanager.memory.managed.size": f"{f.managed_memory_mb} mb"} if f.managed_memory_mb else {}),
        # Kept when the job fails or is cancelled: the state is the product (every open wait,
        # consent and cart); a resubmission resumes from it (jobs.recovery)
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": str(f.checkpoints_retained),
        # an embedded MiniCluster's REST API (a cluster's is its JobManager's), for `journeyctl status`
        "rest.bind-port": f.embedded_rest_ports,
        **_restart_strategy(settings),
        **_prometheus(f.prometheus_ports),
        **({"execution.state-recovery.path": _location(f.restore_from)} if f.restore_from else {}),
    }
    values.update(f.extra)
    return values


PROMETHEUS_REPORTER = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"


def _prometheus(ports: str) -> dict[str, str]:
    # the reporter's jar is a plugin of the PyFlink wheel (pyflink/plugins/metrics-prometheus),
    # which PyFlink points FLINK_PLUGINS_DIR at; a cluster reads its own configuration instead
    if not ports:
        return {}
    return {
        "metrics.reporter.prom.factory.class": PROMETHEUS_REPORTER,
        "metrics.reporter.prom.port": ports,
    }


def _location(path: str) -> str:
    """A local path as a file URI; a URI (file:, s3://, hdfs://) as it is."""
    return path if is_uri(path) else Path(path).resolve().as_uri()


def _restart_strategy(settings: Settings) -> dict[str, str]:
    f = settings.flink
    if f.restart_attempts == 0:
        return {"restart-strategy.type": "none"}
    # Exponential delay, not a few fixed attempts: after a lost TaskManager the job must wait
    # for its slots ("Could not acquire the minimum required resources") rather than give up
    # in seconds and take its checkpoints with it.
    return {
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": f"{f.restart_delay_ms} ms",
        "restart-strategy.exponential-delay.max-backoff": f"{f.restart_max_delay_ms} ms",
        "restart-strategy.exponential-delay.backoff-multiplier": "2.0",
        "restart-strategy.exponential-delay.reset-backoff-threshold": "1 h",
        "restart-strategy.exponential-delay.jitter-factor": "0.1",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff": str(
            f.restart_attempts if f.restart_attempts is not None else 2**31 - 1
        ),
    }


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


def _jvm_logs(settings: Settings) -> None:
    """Where the JVM this process starts (PyFlink's gateway, which runs the MiniCluster) logs and
    writes a crash report; a JVM already running keeps its own."""
    folder = Path(settings.flink.log_dir).resolve()
    (folder / "rocksdb").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FLINK_LOG_DIR", str(folder))
    args = os.environ.get("JVM_ARGS", "")
    if "-XX:ErrorFile" not in args:
        os.environ["JVM_ARGS"] = f"{args} -XX:ErrorFile={folder}/hs_err_pid%p.log".strip()


def _start_gateway_with_reporter() -> None:
    # A MiniCluster loads metric reporters from its JVM's classpath only (it has no plugin
    # manager), and PyFlink's gateway builds that classpath from pyflink/lib, pyflink/opt and
    # HADOOP_CLASSPATH: the one variable it takes extra jars from. The reporter's jar is a
    # plugin of the wheel. The variable is set only while the gateway starts, so that processes
    # started later (a cluster's TaskManagers) do not inherit it; a JVM already running keeps
    # its classpath.
    import pyflink
    from pyflink import java_gateway

    if java_gateway._gateway is not None:
        return
    jars = sorted((Path(pyflink.__file__).parent / "plugins" / "metrics-prometheus").glob("*.jar"))
    before = os.environ.get("HADOOP_CLASSPATH")
    if jars:
        os.environ["HADOOP_CLASSPATH"] = os.pathsep.join([p for p in [before, str(jars[0])] if p])
    try:
        get_gateway()
    finally:
        if before is None:
            os.environ.pop("HADOOP_CLASSPATH", None)
        else:
            os.environ["HADOOP_CLASSPATH"] = before


def create_environment(settings: Settings) -> StreamExecutionEnvironment:
    """A local MiniCluster when run from Python; the cluster's own when submitted with `flink run`."""
    _embedded_python_path()
    _jvm_logs(settings)
    if settings.flink.prometheus_ports:
        _start_gateway_with_reporter()
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
