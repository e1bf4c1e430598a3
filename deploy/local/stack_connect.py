"""The stack's Kafka Connect worker and its Debezium connectors, one per source database.

Standard library only: it runs before the project's virtualenv exists."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from stack_base import (
    AVRO_CONVERTER_CLASS,
    AVRO_CONVERTER_JAR,
    AVRO_CONVERTER_MANIFEST,
    AVRO_CONVERTER_PLUGIN,
    CDC_FORMAT,
    CONNECT_PLUGINS,
    CONNECT_PORT,
    DEBEZIUM_PLUGIN,
    DEBEZIUM_VERSION,
    KAFKA_LIBS,
    KAFKA_PORT,
    POSTGRES_PASSWORD,
    POSTGRES_PORT,
    POSTGRES_USER,
    REGISTRY_PORT,
    STACK_HOME,
    _log4j2_yaml,
    _port_open,
    fail,
    find_java,
    service_marker,
)
from stack_postgres import SOURCES

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
        service_marker("connect"),
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
