"""Typed settings for every command and job, read from the environment and CLI flags.

Environment variables use the prefix ``JOURNEY_`` and ``__`` between levels, for example
``JOURNEY_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` or ``JOURNEY_FLINK__PARALLELISM=4``.
The defaults point at the local stack that ``make stack-up`` starts, on the ports it reads
(``KAFKA_PORT``, ``REGISTRY_PORT``, ``POSTGRES_PORT``, ``CONNECT_PORT``; deploy/local/stack.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.events import CDC_TABLES
from common.sender_settings import SenderSettings

REPO = Path(__file__).resolve().parent.parent
STACK_SCRIPT = REPO / "deploy" / "local" / "stack.py"


def _local_port(var: str, default: int) -> int:
    """A port of the local stack: the variable stack.py reads, so both move together."""
    return int(os.environ.get(var) or default)


class DeliveryMode(StrEnum):
    #: Kafka transactions committed on checkpoints; consumers read with read_committed.
    EXACTLY_ONCE = "exactly-once"
    #: Flushed on checkpoints, written at once; receivers dedupe on action_id.
    AT_LEAST_ONCE = "at-least-once"


#: where flink-sql-connector-kafka (and so the job's Kafka clients) keeps kafka-clients' classes
FLINK_KAFKA_RELOCATION = "org.apache.flink.kafka.shaded."


def _secret_file(path: Path, variable: str) -> SecretStr:
    """A password from a file (one line; its line end is not part of it)."""
    try:
        return SecretStr(path.read_text().rstrip("\r\n"))
    except OSError as e:
        raise ValueError(f"{variable}: cannot read the password file {path}: {e.strerror}") from None


class KafkaSettings(BaseModel):
    bootstrap_servers: str = Field(default_factory=lambda: f"127.0.0.1:{_local_port('KAFKA_PORT', 9092)}")
    #: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    #: a file that holds the SASL password (a mounted secret), read when the settings load
    sasl_password_file: Path | None = None
    #: the CA certificate (PEM) that signed the brokers' certificates, for SSL and SASL_SSL
    ssl_ca_location: str | None = None
    #: For topics the project creates (outputs, dead letters); 1 suits the local single broker.
    topic_partitions: int = 2
    topic_replication_factor: int = 1
    #: Any further client properties, passed as they are to every producer, consumer and admin.
    extra: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _password_from_file(self) -> KafkaSettings:
        if self.sasl_password is None and self.sasl_password_file is not None:
            self.sasl_password = _secret_file(self.sasl_password_file, "JOURNEY_KAFKA__SASL_PASSWORD_FILE")
        return self

    def client_properties(self) -> dict[str, str]:
        """Properties in the Java client's names, understood by librdkafka as well."""
        props: dict[str, str] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            props["sasl.mechanism"] = self.sasl_mechanism
        if self.ssl_ca_location:
            props["ssl.ca.location"] = self.ssl_ca_location
        props.update(self.extra)
        return props

    def java_properties(self, relocated_to: str = FLINK_KAFKA_RELOCATION) -> dict[str, str]:
        """For Java clients. `relocated_to`: the package prefix their Kafka classes were moved
        under; the login module is named in that package, or JAAS finds none (Flink's Kafka
        connector relocates kafka-clients, and this project's JVM helpers refer to it so)."""
        props = {k: v for k, v in self.client_properties().items() if k != "ssl.ca.location"}
        if self.ssl_ca_location:
            props["ssl.truststore.type"] = "PEM"
            props["ssl.truststore.location"] = self.ssl_ca_location
        if self.sasl_mechanism and self.sasl_username is not None:
            module = relocated_to + (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if self.sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            pw = self.sasl_password.get_secret_value() if self.sasl_password else ""
            props["sasl.jaas.config"] = f'{module} required username="{self.sasl_username}" password="{pw}";'
        return props

    def librdkafka_properties(self) -> dict[str, str | int | float | bool]:
        """For confluent-kafka's Producer, Consumer and AdminClient."""
        props: dict[str, str | int | float | bool] = dict(self.client_properties())
        if self.sasl_username is not None:
            props["sasl.username"] = self.sasl_username
            props["sasl.password"] = self.sasl_password.get_secret_value() if self.sasl_password else ""
        return props


class RegistrySettings(BaseModel):
    #: Confluent-compatible API; Apicurio serves it under /apis/ccompat/v7.
    url: str = Field(
        default_factory=lambda: f"http://127.0.0.1:{_local_port('REGISTRY_PORT', 8081)}/apis/ccompat/v7"
    )
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    #: a file that holds the basic-auth password (a mounted secret), read when the settings load
    basic_auth_password_file: Path | None = None

    #: a registry call that gets no answer fails after this long instead of hanging its caller
    timeout_s: float = 10.0
    #: how long a job being built asks again for a registry that does not answer (one restarting
    #: beside it) before it gives up with what to do; a refused login gives up at once
    wait_s: float = 60.0

    @model_validator(mode="after")
    def _password_from_file(self) -> RegistrySettings:
        if self.basic_auth_password is None and self.basic_auth_password_file is not None:
            self.basic_auth_password = _secret_file(
                self.basic_auth_password_file, "JOURNEY_REGISTRY__BASIC_AUTH_PASSWORD_FILE"
            )
        return self

    def client_config(self) -> dict[str, Any]:
        conf: dict[str, Any] = {"url": self.url, "timeout": self.timeout_s}
        if self.basic_auth_user is not None:
            pw = self.basic_auth_password.get_secret_value() if self.basic_auth_password else ""
            conf["basic.auth.user.info"] = f"{self.basic_auth_user}:{pw}"
        return conf


class FlinkSettings(BaseModel):
    parallelism: int = 2
    #: The floor on action latency in exactly-once mode: outputs become visible on commit.
    checkpoint_interval_ms: int = 1000
    checkpoint_dir: str = str(REPO / ".stack" / "checkpoints")
    #: where an embedded MiniCluster's JVM writes its log, a crash report (hs_err_pid*.log) and
    #: RocksDB's LOG files; a JVM's default is its working directory, often the checkout
    log_dir: str = str(REPO / ".stack" / "logs" / "flink")
    #: rocksdb (state on disk, incremental checkpoints: any number of customers) or hashmap
    #: (state on the JVM heap, full snapshots: faster per record, for state that fits in memory)
    state_backend: str = "rocksdb"
    #: managed memory per TaskManager, where RocksDB keeps its block cache and write buffers; a
    #: MiniCluster's default (128 MB) makes RocksDB about 3x slower per record (DESIGN.md). A
    #: standalone cluster sizes its own (deploy/local/cluster.py); 0 = Flink's default.
    managed_memory_mb: int = 1024
    #: how often sources emit watermarks (Flink's default is 200 ms): every record waits in the
    #: ordering stages for the watermark that passes it, and each Python stage sends its bundle
    #: on when a watermark comes, so this is part of every latency (20 ms against 50: p50 -45 ms,
    #: throughput the same; docs/performance.md)
    watermark_interval_ms: int = 20
    #: the longest a partly filled network buffer waits before it is sent (Flink's default 100 ms)
    buffer_timeout_ms: int = 10
    #: the longest a Python operator holds its outputs in a bundle (Flink's default 1,000 ms)
    python_bundle_time_ms: int = 50
    #: restarts after a failure, each after a delay that doubles from `restart_delay_ms` up to
    #: `restart_max_delay_ms` (and starts over after an hour without one): a job whose
    #: TaskManager is gone waits for one instead of failing in seconds. None: no limit; 0: fail
    #: at the first error (tests that want to see it)
    restart_attempts: int | None = None
    restart_delay_ms: int = 1_000
    restart_max_delay_ms: int = 60_000
    #: a savepoint's or checkpoint's folder to start from ("": empty state); `journeyctl run`
    #: sets it to the job's latest retained checkpoint (jobs.recovery)
    restore_from: str = ""
    #: completed checkpoints kept; they outlive a failed or cancelled job
    #: (`journeyctl run` resumes from the latest, docs/operations.md)
    checkpoints_retained: int = 3
    #: Flink's REST API of the standalone cluster (deploy/local/cluster.py), for `journeyctl status`
    rest_url: str = "http://127.0.0.1:8091"
    #: the ports an embedded MiniCluster's REST API takes the first free one of, so that
    #: `journeyctl status` finds a job run with `journeyctl run` (8081 is the registry's)
    embedded_rest_ports: str = "8092-8099"
    #: where an embedded MiniCluster's Prometheus reporter serves `/metrics` (the first free port
    #: of the range; "" = no reporter). A standalone cluster has its own (deploy/local/cluster.py)
    prometheus_ports: str = "9249-9259"
    #: Extra jars (connector, metrics); empty = the ones `stack.py fetch` put in the cache.
    jars: list[str] = Field(default_factory=list)
    #: Extra Flink configuration keys, passed as they are.
    extra: dict[str, str] = Field(default_factory=dict)

    @field_validator("parallelism")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("parallelism must be at least 1")
        return v


class SinkSettings(BaseModel):
    delivery: DeliveryMode = DeliveryMode.EXACTLY_ONCE
    #: Unique per job on a cluster and stable across restarts, or lingering transactions block readers.
    transactional_id_prefix: str = "journey-engine"
    #: Below the broker's transaction.max.timeout.ms (15 min by default) or the job fails at start.
    transaction_timeout_ms: int = 600_000


class SourceSettings(BaseModel):
    """The operational databases (one per source system, CONTRACTS.md) and the Connect worker
    that captures them."""

    host: str = "127.0.0.1"
    port: int = Field(default_factory=lambda: _local_port("POSTGRES_PORT", 5433))
    user: str = Field(default_factory=lambda: os.environ.get("POSTGRES_USER") or "journey")
    password: SecretStr = Field(
        default_factory=lambda: SecretStr(os.environ.get("POSTGRES_PASSWORD") or "journey")
    )
    connect_url: str = Field(default_factory=lambda: f"http://127.0.0.1:{_local_port('CONNECT_PORT', 8083)}")

    def dsn(self, system: str) -> str:
        """libpq connection string of one source system's database (`crm`, `orders`, ...)."""
        pw = self.password.get_secret_value()
        return f"host={self.host} port={self.port} user={self.user} password={pw} dbname={system}"


class TopicSettings(BaseModel):
    """Topic names of CONTRACTS.md; each is a default that can be overridden."""

    clickstream: str = "clickstream"
    channel_feedback: str = "channel-feedback"
    journey_events: str = "journey-events"
    dead_letter: str = "dead-letter"
    #: the ingest job's output: every decoded input as JSON (an extension, not in CONTRACTS.md)
    decoded: str = "decoded-events"
    #: the journey results job's output (an extension): per journey and variant, and per step,
    #: upserts keyed by what they count (JSON; `journeyctl report` reads it)
    journey_metrics: str = "journey-metrics"
    actions: dict[str, str] = Field(
        default_factory=lambda: {ch: f"actions.{ch}" for ch in ("email", "sms", "push", "in_app")}
    )
    #: `<system>.<table>` -> topic; Debezium writes `<topic.prefix>.<schema>.<table>`
    cdc: dict[str, str] = Field(
        default_factory=lambda: {t: f"{t.split('.')[0]}.public.{t.split('.')[1]}" for t in CDC_TABLES}
    )

    def inputs(self) -> list[str]:
        return [self.clickstream, self.channel_feedback, *self.cdc.values()]

    def renamed(self, rename: Callable[[str], str]) -> TopicSettings:
        """Every input and output topic of the journey job renamed (a test's or a benchmark's own)."""
        return self.model_copy(
            update={
                "clickstream": rename(self.clickstream),
                "channel_feedback": rename(self.channel_feedback),
                "journey_events": rename(self.journey_events),
                "journey_metrics": rename(self.journey_metrics),
                "dead_letter": rename(self.dead_letter),
                "actions": {ch: rename(t) for ch, t in self.actions.items()},
                "cdc": {table: rename(t) for table, t in self.cdc.items()},
            }
        )

    def outputs(self) -> list[str]:
        return [*self.actions.values(), self.journey_events, self.dead_letter]


class DecodeSettings(BaseModel):
    #: values above this go to the dead-letter topic (truncated to it there) instead of the engine
    max_value_bytes: int = 512 * 1024


class JourneySettings(BaseModel):
    """The journey job: its definitions, journey time, state lifetimes and the catalogue stages."""

    #: folder of journey definition files; empty = the shipped ones (journeys/definitions)
    definitions: str = ""
    #: how far out of order events may arrive before they count as late (they are still applied)
    out_of_orderness_ms: int = 2_000
    #: a partition that has delivered nothing for this long stops holding journey time back (and,
    #: in an unbounded job, follows the partitions that have)
    idle_ms: int = 5_000
    #: the same for a partition that has delivered nothing since it was assigned: most are
    #: empty (a table nobody changed), and while one waits no wait of the job fires, so a job
    #: acts within this of its start; a cold start's first fetch slower than this makes that
    #: partition's backlog late (applied at once, counted), so raise it where first fetches are slow
    startup_ms: int = 2_000
    #: customer state nobody wrote for this long is dropped (above the longest memory, 180 days)
    state_ttl_days: int = 200
    #: customers whose decoded state each journey-stage subtask keeps in memory, so that their
    #: next record reads no state from Flink (0: none); about 2-5 kB of heap each
    state_cache: int = 20_000
    #: SKUs whose decoded book each SKU-stage subtask keeps in memory, so that a view of one reads
    #: no state from Flink (0: none); about 1-2 kB of heap each
    sku_cache: int = 20_000
    #: a SKU's or category's state nobody wrote for this long is dropped
    catalog_ttl_days: int = 400
    #: total units at or below which a SKU counts as low (a crossing notifies its watchers)
    low_stock_threshold: int = 5
    #: in-stock SKUs of the same category sent along when a SKU sells out
    alternatives: int = 10
    #: also a `step` journey event each time an instance enters a step (off: half of all journey
    #: events, and what they say the `branch` and `waiting` events beside them say already)
    step_events: bool = False

    @field_validator(
        "out_of_orderness_ms", "idle_ms", "startup_ms", "state_ttl_days", "catalog_ttl_days", "alternatives"
    )
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be positive")
        return v


class ResultsSettings(BaseModel):
    """The journey results job (jobs/results.py) and `journeyctl report`."""

    #: an order counts for an instance when it comes this long after the instance entered
    attribution_days: int = Field(default=7, gt=0)
    #: what one message costs, per channel, in the orders' currency
    message_costs: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.002, "sms": 0.05, "push": 0.001, "in_app": 0.0}
    )
    #: state the job keeps (instances, orders) is dropped this long after it last changed
    state_ttl_days: int = Field(default=30, gt=0)
    #: `journeyctl report`: where the charts go
    charts_dir: str = str(REPO / ".stack" / "report")


class RelayTopics(BaseModel):
    input: str = "clickstream"
    output: str = "clickstream.relayed"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOURNEY_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    flink: FlinkSettings = Field(default_factory=FlinkSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    decode: DecodeSettings = Field(default_factory=DecodeSettings)
    relay: RelayTopics = Field(default_factory=RelayTopics)
    journeys: JourneySettings = Field(default_factory=JourneySettings)
    sources: SourceSettings = Field(default_factory=SourceSettings)
    sender: SenderSettings = Field(default_factory=SenderSettings)
    results: ResultsSettings = Field(default_factory=ResultsSettings)
    consumer_group: str = "journey-engine"

    def resolved_jars(self) -> list[str]:
        return self.flink.jars or local_stack_jars()

    def environment(self) -> dict[str, str]:
        """These settings as `JOURNEY_*` variables that `Settings()` reads back to the same values:
        a job submitted with `flink run` is built by a client process of Flink's, which gets its
        settings only through the environment. One JSON value per section; secrets in clear."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, BaseModel):
                env[f"JOURNEY_{name.upper()}"] = json.dumps(_revealed(value))
            else:
                env[f"JOURNEY_{name.upper()}"] = str(value)
        return env


def _revealed(model: BaseModel) -> dict[str, Any]:
    """A model as JSON data with its secrets (at any depth) in clear."""
    data: dict[str, Any] = model.model_dump(mode="json")
    for field, v in model:
        if isinstance(v, SecretStr):
            data[field] = v.get_secret_value()
        elif isinstance(v, BaseModel):
            data[field] = _revealed(v)
    return data


@cache
def local_stack_paths() -> dict[str, Any]:
    """Where the local stack keeps its cache and logs, as deploy/local/stack.py reports them."""
    out = subprocess.run(
        [sys.executable, str(STACK_SCRIPT), "paths"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    paths: dict[str, Any] = json.loads(out.stdout)
    return paths


def _cached_jars(key: str, what: str, hint: str = "") -> list[str]:
    jars: list[str] = local_stack_paths()[key]
    if not jars:
        raise RuntimeError(
            f"{what} is not in the cache: run `make setup` (or `python3 deploy/local/stack.py fetch`){hint}."
        )
    return jars


def local_sql_jars() -> list[str]:
    """The formats Flink SQL jobs need beside the Kafka connector (Avro through the registry)."""
    return _cached_jars("flink_sql_jars", "flink-sql-avro-confluent-registry")


def local_stack_jars() -> list[str]:
    return _cached_jars("flink_jars", "The Flink Kafka connector jar", ", or set JOURNEY_FLINK__JARS")
