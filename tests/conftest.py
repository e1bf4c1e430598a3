from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from common.settings import Settings
from tests.flink_cluster import standalone_cluster
from tests.stack import StackAddresses, stack_module, test_stack, wait_for_connectors


@pytest.fixture(scope="session")
def stack() -> Iterator[StackAddresses]:
    """Kafka, the schema registry, the source databases and their CDC, started once per test
    session (or reused if running)."""
    with test_stack() as addresses:
        yield addresses


@pytest.fixture(scope="session")
def cdc(stack: StackAddresses) -> StackAddresses:
    """The stack with every source database captured: each system's connector RUNNING."""
    local = stack_module()
    wait_for_connectors(stack.connect_url, [local.connector_name(s) for s in local.SOURCES])
    return stack


@pytest.fixture
def settings(stack: StackAddresses, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the test stack, with a checkpoint folder and consumer group of their own."""
    base = Settings()
    return base.model_copy(
        update={
            "kafka": base.kafka.model_copy(update={"bootstrap_servers": stack.bootstrap_servers}),
            "registry": base.registry.model_copy(update={"url": stack.registry_url}),
            "sources": base.sources.model_copy(
                update={
                    "host": stack.postgres_host,
                    "port": stack.postgres_port,
                    "connect_url": stack.connect_url,
                }
            ),
            "flink": base.flink.model_copy(
                update={
                    "parallelism": 2,
                    "checkpoint_dir": str(tmp_path_factory.mktemp("checkpoints")),
                    # a job that breaks fails the test instead of waiting for ever, as a
                    # deployed job would (restarts without limit)
                    "restart_attempts": 2,
                }
            ),
            "sink": base.sink.model_copy(update={"transactional_id_prefix": f"test-{uuid.uuid4().hex[:8]}"}),
            "consumer_group": f"test-{uuid.uuid4().hex[:8]}",
        }
    )


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Topic and subject names of this test alone, so tests never see each other's records."""
    run = uuid.uuid4().hex[:8]
    return lambda name: f"{name}-{run}"


@pytest.fixture(scope="session")
def flink_cluster() -> Iterator[str]:
    """A standalone Flink cluster (deploy/local/cluster.py); its REST address."""
    with standalone_cluster() as rest_address:
        yield rest_address
