"""The services tests run against: local processes from deploy/local/stack.py, or containers.

Both paths give the same `StackAddresses`. Containers are used only where a Docker engine
answers (JOURNEY_TEST_STACK=containers forces them, =local forces processes); these machines
have none, so the local-process path is the one CI takes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

from common.settings import STACK_SCRIPT


@dataclass(frozen=True)
class StackAddresses:
    bootstrap_servers: str
    registry_url: str
    #: the source databases' server (one database per system) and the Connect worker's REST API
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5433
    connect_url: str = "http://127.0.0.1:8083"


def stack_module() -> ModuleType:
    """deploy/local/stack.py as a module: its connector configs and SQL files serve both paths."""
    spec = importlib.util.spec_from_file_location("journey_local_stack", STACK_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextmanager
def local_processes() -> Iterator[StackAddresses]:
    status = subprocess.run([sys.executable, str(STACK_SCRIPT), "status"], capture_output=True)
    was_running = status.returncode == 0
    subprocess.run([sys.executable, str(STACK_SCRIPT), "up"], check=True)
    env = dict(
        line.split("=", 1)
        for line in subprocess.run(
            [sys.executable, str(STACK_SCRIPT), "env"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    try:
        pg = env["POSTGRES_DSN"].rsplit("@", 1)[1].split("/", 1)[0]
        yield StackAddresses(
            env["KAFKA_BOOTSTRAP_SERVERS"],
            env["SCHEMA_REGISTRY_URL"],
            postgres_host=pg.rsplit(":", 1)[0],
            postgres_port=int(pg.rsplit(":", 1)[1]),
            connect_url=env["CONNECT_URL"],
        )
    finally:
        # Leave a stack the developer started; stop one the tests started.
        if not was_running and not os.environ.get("JOURNEY_KEEP_STACK"):
            subprocess.run([sys.executable, str(STACK_SCRIPT), "down"], check=False)


@contextmanager
def containers() -> Iterator[StackAddresses]:  # pragma: no cover - needs a Docker engine
    """The same services as containers. Not run here (no Docker engine on these machines): the CDC
    part follows the local path's settings (stack.py's connector configs and SQL files) untested."""
    import httpx
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    local = stack_module()
    with Network() as net:
        kafka = (
            KafkaContainer("apache/kafka:4.1.1")
            .with_kraft()
            .with_network(net)
            .with_network_aliases("kafka")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        )
        registry = DockerContainer("apicurio/apicurio-registry:3.3.3").with_exposed_ports(8080)
        postgres = (
            DockerContainer("postgres:15")
            .with_network(net)
            .with_network_aliases("postgres")
            .with_env("POSTGRES_USER", local.POSTGRES_USER)
            .with_env("POSTGRES_PASSWORD", local.POSTGRES_PASSWORD)
            .with_command("-c wal_level=logical -c max_replication_slots=12 -c max_wal_senders=12")
            .with_exposed_ports(5432)
        )
        connect = (
            DockerContainer(f"quay.io/debezium/connect:{local.DEBEZIUM_VERSION}")
            .with_network(net)
            .with_env("BOOTSTRAP_SERVERS", "kafka:9092")
            .with_env("GROUP_ID", local.CONNECT_GROUP)
            .with_env("CONFIG_STORAGE_TOPIC", f"{local.CONNECT_GROUP}-configs")
            .with_env("OFFSET_STORAGE_TOPIC", f"{local.CONNECT_GROUP}-offsets")
            .with_env("STATUS_STORAGE_TOPIC", f"{local.CONNECT_GROUP}-status")
            .with_env("CONNECT_EXACTLY_ONCE_SOURCE_SUPPORT", "enabled")
            .with_env("KEY_CONVERTER", "org.apache.kafka.connect.json.JsonConverter")
            .with_env("VALUE_CONVERTER", "org.apache.kafka.connect.json.JsonConverter")
            .with_env("CONNECT_KEY_CONVERTER_SCHEMAS_ENABLE", "false")
            .with_env("CONNECT_VALUE_CONVERTER_SCHEMAS_ENABLE", "false")
            .with_exposed_ports(8083)
        )
        with kafka, registry, postgres, connect:
            wait_for_logs(registry, "Installed features", timeout=120)
            wait_for_logs(postgres, "ready to accept connections", timeout=60)
            url = (
                f"http://{registry.get_container_host_ip()}:{registry.get_exposed_port(8080)}/apis/ccompat/v7"
            )
            pg_host, pg_port = postgres.get_container_host_ip(), int(postgres.get_exposed_port(5432))
            apply_sql_files(local, pg_host, pg_port)
            connect_url = f"http://{connect.get_container_host_ip()}:{connect.get_exposed_port(8083)}"
            wait_for_logs(connect, "Finished starting connectors and tasks", timeout=120)
            for system in local.SOURCES:
                conf = local.connector_config(system, pg_host="postgres", pg_port=5432)
                httpx.put(f"{connect_url}/connectors/{local.connector_name(system)}/config", json=conf)
            yield StackAddresses(kafka.get_bootstrap_server(), url, pg_host, pg_port, connect_url)


def apply_sql_files(local: ModuleType, host: str, port: int) -> None:  # pragma: no cover - containers
    """The databases and deploy/sql's files, for a server that stack.py did not start."""
    import psycopg

    def connect(dbname: str) -> psycopg.Connection:
        return psycopg.connect(
            host=host,
            port=port,
            user=local.POSTGRES_USER,
            password=local.POSTGRES_PASSWORD,
            dbname=dbname,
            autocommit=True,
        )

    with connect("postgres") as conn:
        for system in local.SOURCES:
            conn.execute(f"CREATE DATABASE {system}")
    for system in local.SOURCES:
        with connect(system) as conn:
            for _version, _name, path in local.migrations(system):
                conn.execute(path.read_text())


def wait_for_connectors(connect_url: str, names: list[str], timeout_s: float = 90.0) -> None:
    """Until each connector and its tasks are RUNNING (after `up`, or a restart of the worker)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            body = httpx.get(f"{connect_url}/connectors", params={"expand": "status"}, timeout=5).json()
        except (httpx.HTTPError, ValueError):
            body = {}
        if isinstance(body, dict):
            for name in names:
                st = body.get(name, {}).get("status", {})
                tasks = [t.get("state") for t in st.get("tasks", [])]
                states[name] = "/".join([str(st.get("connector", {}).get("state")), *map(str, tasks)])
            if all(v.startswith("RUNNING/") and set(v.split("/")) == {"RUNNING"} for v in states.values()):
                return
        time.sleep(0.25)
    raise AssertionError(f"connectors not RUNNING after {timeout_s:.0f} s: {states}")


@contextmanager
def test_stack() -> Iterator[StackAddresses]:
    mode = os.environ.get("JOURNEY_TEST_STACK", "auto")
    use_containers = mode == "containers" or (mode == "auto" and _docker_engine_answers())
    with containers() if use_containers else local_processes() as addresses:
        yield addresses
