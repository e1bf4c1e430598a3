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
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

# the modules beside this script, also when it is loaded by its path (tests/stack.py)
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack_base import (
    APICURIO_HOME,
    AVRO_CONVERTER_CLASS,
    CACHE,
    CDC_FORMAT,
    CONNECT_PORT,
    DEBEZIUM_VERSION,
    FLINK_SQL_JARS,
    KAFKA_CONTROLLER_PORT,
    KAFKA_LIBS,
    KAFKA_PORT,
    KAFKA_VERSION,
    LOGS,
    POSTGRES_PASSWORD,
    POSTGRES_PORT,
    POSTGRES_USER,
    REGISTRY_MANAGEMENT_PORT,
    REGISTRY_PORT,
    STACK_HOME,
    Service,
    _alive,
    _log4j2_yaml,
    _port_open,
    fail,
    find_java,
    say,
)
from stack_connect import (
    CONNECT_GROUP,
    _connect_answers,
    _connect_command,
    _connect_configure,
    _connect_prepare,
    _connect_ready,
    connect_url,
    connector_config,
    connector_name,
    connector_states,
)
from stack_fetch import build_helpers, fetch, flink_jars
from stack_postgres import (
    SOURCES,
    _pg_answers,
    _pg_command,
    _pg_configure,
    _pg_os_user,
    _pg_prepare,
    _pg_ready,
    migrations,
    postgres_dsn,
)

#: what tests/stack.py, tests/secure_stack.py and the fault tests read from this module
__all__ = [
    "AVRO_CONVERTER_CLASS",
    "CONNECT_GROUP",
    "DEBEZIUM_VERSION",
    "KAFKA_LIBS",
    "POSTGRES_PASSWORD",
    "POSTGRES_USER",
    "SOURCES",
    "_alive",
    "connector_config",
    "connector_name",
    "find_java",
    "migrations",
]

# --------------------------------------------------------------------------- kafka

KAFKA_DATA = STACK_HOME / "data" / "kafka"
KAFKA_CONF = STACK_HOME / "conf" / "kafka"


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
