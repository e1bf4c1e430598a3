"""The services tests run against: local processes from deploy/local/stack.py, or containers.

Both paths give the same `StackAddresses`. Containers are used only where a Docker engine
answers (JOURNEY_TEST_STACK=containers forces them, =local forces processes); these machines
have none, so the local-process path is the one CI takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from journeyctl.settings import STACK_SCRIPT


@dataclass(frozen=True)
class StackAddresses:
    bootstrap_servers: str
    registry_url: str


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
        yield StackAddresses(env["KAFKA_BOOTSTRAP_SERVERS"], env["SCHEMA_REGISTRY_URL"])
    finally:
        # Leave a stack the developer started; stop one the tests started.
        if not was_running and not os.environ.get("JOURNEY_KEEP_STACK"):
            subprocess.run([sys.executable, str(STACK_SCRIPT), "down"], check=False)


@contextmanager
def containers() -> Iterator[StackAddresses]:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    kafka = (
        KafkaContainer("apache/kafka:4.1.1")
        .with_kraft()
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
    )
    registry = DockerContainer("apicurio/apicurio-registry:3.3.3").with_exposed_ports(8080)
    with kafka, registry:
        wait_for_logs(registry, "Installed features", timeout=120)
        url = f"http://{registry.get_container_host_ip()}:{registry.get_exposed_port(8080)}/apis/ccompat/v7"
        yield StackAddresses(kafka.get_bootstrap_server(), url)


@contextmanager
def test_stack() -> Iterator[StackAddresses]:
    mode = os.environ.get("JOURNEY_TEST_STACK", "auto")
    use_containers = mode == "containers" or (mode == "auto" and _docker_engine_answers())
    with containers() if use_containers else local_processes() as addresses:
        yield addresses
