"""The journey job against a secured deployment: Kafka that speaks only TLS with SASL/SCRAM, and
the schema registry behind HTTP basic auth (tests/secure_stack.py makes the CA, the users and
the passwords, fresh for this module).

The recorded shop day goes in through the secured broker, the job runs over it on a MiniCluster
and registers its schemas through the authenticating proxy, and what comes out must be
simulate's. The passwords must show nowhere the job writes or prints: the JVM's logs, the job's
printed plan and Flink configuration, the console. Wrong credentials end at once with what to
change, and never with the password in the message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from common.settings import Settings
from connectors.admin import KafkaUnreachable, ensure_topics
from connectors.avro import RegistryClient, RegistryUnavailable
from jobs.environment import create_environment, flink_config_values
from jobs.journey import build_pipeline, kafka_connectors
from journeyctl.cli import main as journeyctl
from tests.journey_checks import (
    assert_cart_paths,
    assert_same_decisions,
    own_topics,
    read_outputs,
    shop_day_in_kafka,
)
from tests.secure_stack import SCRAM, SecureStack, secure_stack
from tests.stack import StackAddresses

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secure(stack: StackAddresses, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureStack]:
    with secure_stack(tmp_path_factory.mktemp("secure"), stack.registry_url) as s:
        yield s


def secured(
    settings: Settings, secure: SecureStack, kafka_password: str = "", registry_password: str = ""
) -> Settings:
    return settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(
                update={
                    "bootstrap_servers": secure.bootstrap_servers,
                    "security_protocol": "SASL_SSL",
                    "sasl_mechanism": SCRAM,
                    "sasl_username": secure.kafka_user,
                    "sasl_password": SecretStr(kafka_password or secure.kafka_password),
                    "ssl_ca_location": str(secure.ca_file),
                }
            ),
            "registry": settings.registry.model_copy(
                update={
                    "url": secure.registry_url,
                    "basic_auth_user": secure.registry_user,
                    "basic_auth_password": SecretStr(registry_password or secure.registry_password),
                }
            ),
        }
    )


def _written_since(since: float, *folders: Path) -> bytes:
    """Everything written under `folders` since `since` (a file's modification time)."""
    files = {f for d in folders for f in d.rglob("*") if f.is_file() and f.stat().st_mtime >= since}
    return b"".join(f.read_bytes() for f in sorted(files))


def test_the_shop_day_runs_through_tls_scram_kafka_and_an_authenticated_registry(
    settings: Settings,
    secure: SecureStack,
    unique: Callable[[str], str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    since = time.time() - 1
    s = secured(settings, secure)
    s = s.model_copy(update={"flink": s.flink.model_copy(update={"log_dir": str(tmp_path / "logs")})})
    s, sim = shop_day_in_kafka(s, unique, None)
    env = create_environment(s)
    sources, sinks = kafka_connectors(s, bounded=True)
    build_pipeline(env, sources, sinks, s)
    plan = env.get_execution_plan()
    env.execute("journey-secured-test")
    actions, events = read_outputs(s, sim.actions, sim.journey_events)
    assert_same_decisions(actions, events, sim.actions, sim.journey_events)
    assert_cart_paths(actions, events)
    assert secure.registry_requests() > 0, "the job registered its schemas through the proxy"

    # the JVM logs where FLINK_LOG_DIR said when it started (an earlier test's folder, if an
    # earlier test started it); the job's RocksDB logs go to this test's
    jvm_logs = Path(os.environ.get("FLINK_LOG_DIR") or tmp_path / "logs")
    logs = _written_since(since, jvm_logs, tmp_path / "logs")
    assert b"journey-secured-test" in logs, "the JVM's log of this job is among them: the check counts"
    console = capfd.readouterr()
    configuration = str(flink_config_values(s))
    for secret in (secure.kafka_password, secure.registry_password):
        assert secret.encode() not in logs, "a password in the JVM's logs"
        assert secret not in plan, "a password in the job's printed plan"
        assert secret not in configuration, "a password in the job's Flink configuration"
        assert secret not in console.out + console.err, "a password on the console"
        assert secret not in repr(s)


def test_wrong_credentials_end_at_once_with_what_to_change(
    settings: Settings,
    secure: SecureStack,
    unique: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "not-" + secure.kafka_password
    # what an operator sees: `journeyctl run` stops with exit code 2 and the reason
    for name, value in (
        secured(own_topics(settings, unique), secure, kafka_password=wrong).environment().items()
    ):
        monkeypatch.setenv(name, value)
    assert journeyctl(["run", "journey"]) == 2
    said = capsys.readouterr().err
    assert "refused the credentials" in said and wrong not in said, said

    with pytest.raises(KafkaUnreachable) as kafka:
        ensure_topics(secured(settings, secure, kafka_password=wrong), [unique("refused")], timeout_s=20)
    assert "refused the credentials" in str(kafka.value)
    assert "JOURNEY_KAFKA__SASL_PASSWORD" in str(kafka.value)
    assert wrong not in str(kafka.value)

    no_ca = secured(settings, secure)
    no_ca = no_ca.model_copy(update={"kafka": no_ca.kafka.model_copy(update={"ssl_ca_location": None})})
    with pytest.raises(KafkaUnreachable, match="JOURNEY_KAFKA__SSL_CA_LOCATION"):
        ensure_topics(no_ca, [unique("untrusted")], timeout_s=20)

    wrong = "not-" + secure.registry_password
    registry = RegistryClient(secured(settings, secure, registry_password=wrong).registry.client_config())
    with pytest.raises(RegistryUnavailable) as refused:
        registry.register(unique("refused") + "-value", {"type": "string"})
    assert "HTTP 401" in str(refused.value)
    assert "JOURNEY_REGISTRY__BASIC_AUTH_PASSWORD" in str(refused.value)
    assert wrong not in str(refused.value)
