from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from common.settings import DeliveryMode, Settings


def test_defaults_point_at_the_local_stack_and_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KAFKA_PORT", "REGISTRY_PORT", "POSTGRES_PORT", "CONNECT_PORT"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.sources.dsn("crm") == "host=127.0.0.1 port=5433 user=journey password=journey dbname=crm"
    assert s.sources.connect_url == "http://127.0.0.1:8083"
    assert s.registry.url.endswith("/apis/ccompat/v7")
    assert s.sink.delivery is DeliveryMode.EXACTLY_ONCE
    # below the broker's default transaction.max.timeout.ms of 15 min
    assert s.sink.transaction_timeout_ms < 900_000


def test_defaults_follow_the_local_stacks_port_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables deploy/local/stack.py reads, so that a moved stack needs no JOURNEY_* too."""
    monkeypatch.setenv("KAFKA_PORT", "19092")
    monkeypatch.setenv("REGISTRY_PORT", "18081")
    monkeypatch.setenv("POSTGRES_PORT", "15433")
    monkeypatch.setenv("CONNECT_PORT", "18083")
    s = Settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert s.registry.url == "http://127.0.0.1:18081/apis/ccompat/v7"
    assert s.sources.port == 15433
    assert s.sources.connect_url == "http://127.0.0.1:18083"
    assert "journey" not in repr(s.sources.password)


def test_nested_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_KAFKA__BOOTSTRAP_SERVERS", "broker-1:9093")
    monkeypatch.setenv("JOURNEY_FLINK__PARALLELISM", "4")
    monkeypatch.setenv("JOURNEY_SINK__DELIVERY", "at-least-once")
    s = Settings()
    assert s.kafka.bootstrap_servers == "broker-1:9093"
    assert s.flink.parallelism == 4
    assert s.sink.delivery is DeliveryMode.AT_LEAST_ONCE


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_FLINK__PARALLELISM", "0")
    with pytest.raises(ValidationError, match="parallelism"):
        Settings()


def test_sasl_and_tls_pass_through_to_java_and_librdkafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("JOURNEY_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("JOURNEY_KAFKA__SASL_USERNAME", "journeys")
    monkeypatch.setenv("JOURNEY_KAFKA__SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("JOURNEY_KAFKA__SSL_CA_LOCATION", "/etc/ssl/ca.pem")
    s = Settings()
    java = s.kafka.java_properties()
    assert java["security.protocol"] == "SASL_SSL"
    assert java["sasl.jaas.config"] == (
        "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"
        ' required username="journeys" password="s3cret";'
    ), "named in the package Flink's Kafka connector moved kafka-clients to"
    assert s.kafka.java_properties(relocated_to="")["sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.scram.ScramLoginModule required"
    )
    assert java["ssl.truststore.location"] == "/etc/ssl/ca.pem"
    rd = s.kafka.librdkafka_properties()
    assert rd["sasl.username"] == "journeys" and rd["sasl.password"] == "s3cret"
    assert rd["ssl.ca.location"] == "/etc/ssl/ca.pem"
    assert "s3cret" not in repr(s), "secrets must not show in logs"


def test_registry_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_REGISTRY__BASIC_AUTH_USER", "svc")
    monkeypatch.setenv("JOURNEY_REGISTRY__BASIC_AUTH_PASSWORD", "pw")
    assert Settings().registry.client_config()["basic.auth.user.info"] == "svc:pw"


def test_passwords_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A mounted secret: the file's line end is not part of the password."""
    (tmp_path / "kafka").write_text("k-s3cret\n")
    (tmp_path / "registry").write_text("r-s3cret")
    monkeypatch.setenv("JOURNEY_KAFKA__SASL_USERNAME", "journeys")
    monkeypatch.setenv("JOURNEY_KAFKA__SASL_PASSWORD_FILE", str(tmp_path / "kafka"))
    monkeypatch.setenv("JOURNEY_REGISTRY__BASIC_AUTH_USER", "svc")
    monkeypatch.setenv("JOURNEY_REGISTRY__BASIC_AUTH_PASSWORD_FILE", str(tmp_path / "registry"))
    s = Settings()
    assert s.kafka.librdkafka_properties()["sasl.password"] == "k-s3cret"
    assert s.registry.client_config()["basic.auth.user.info"] == "svc:r-s3cret"
    assert "s3cret" not in repr(s)


def test_a_password_file_that_cannot_be_read_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JOURNEY_KAFKA__SASL_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="JOURNEY_KAFKA__SASL_PASSWORD_FILE: cannot read"):
        Settings()


def test_unknown_top_level_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(kafak={"bootstrap_servers": "x"})  # type: ignore[call-arg]


def test_settings_travel_through_the_environment_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_KAFKA__SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("JOURNEY_SENDER__SMTP__PASSWORD", "deep-s3cret")
    base = Settings()
    s = base.model_copy(
        update={
            "topics": base.topics.renamed(lambda t: f"{t}-run-7"),
            "flink": base.flink.model_copy(update={"parallelism": 3, "extra": {"rest.port": "8099"}}),
            "journeys": base.journeys.model_copy(update={"startup_ms": 12_345}),
            "consumer_group": "group-7",
        }
    )
    monkeypatch.delenv("JOURNEY_KAFKA__SASL_PASSWORD")
    monkeypatch.delenv("JOURNEY_SENDER__SMTP__PASSWORD")
    for name, value in s.environment().items():
        monkeypatch.setenv(name, value)
    back = Settings()
    assert back == s
    assert back.kafka.sasl_password is not None and back.kafka.sasl_password.get_secret_value() == "s3cret"
    # a secret one level further down travels as well
    smtp_pw = back.sender.smtp.password
    assert smtp_pw is not None and smtp_pw.get_secret_value() == "deep-s3cret"
