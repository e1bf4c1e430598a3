"""deploy/local/stack.py: port conflicts are named, stop ends only our processes, the cache is checked."""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

STACK = Path(__file__).resolve().parents[3] / "deploy" / "local" / "stack.py"


@pytest.fixture
def stack_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of the module whose cache and stack home are temporary folders."""
    monkeypatch.setenv("JOURNEY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("JOURNEY_STACK_HOME", str(tmp_path / "home"))
    spec = importlib.util.spec_from_file_location("stack_under_test", STACK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _service(stack_module: ModuleType, port: int, command: list[str]) -> object:
    svc = stack_module.Service(
        "probe", {"PROBE_PORT": port}, lambda: command, ready=lambda: True, timeout_s=5
    )
    return svc


def test_a_taken_port_is_named_with_its_owner_and_the_variable_to_change(
    stack_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        svc = _service(stack_module, port, ["sleep", "30"])
        with pytest.raises(SystemExit):
            svc.up()  # type: ignore[attr-defined]
    err = capsys.readouterr().err
    assert f"port {port} (PROBE_PORT) is taken by pid" in err
    assert "PROBE_PORT=<port>" in err


def test_down_does_not_kill_a_stranger_whose_pid_is_in_the_pid_file(stack_module: ModuleType) -> None:
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        svc = _service(stack_module, 1, ["sleep", "30"])
        svc.pidfile.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
        svc.pidfile.write_text(f"{stranger.pid}\n")  # type: ignore[attr-defined]
        assert svc.pid() is None  # type: ignore[attr-defined]
        svc.down()  # type: ignore[attr-defined]
        time.sleep(0.2)
        assert stranger.poll() is None, "stack_module.py down killed a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()


def test_up_is_idempotent_and_down_stops_what_up_started(stack_module: ModuleType, unused_port: int) -> None:
    marker_cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    svc = stack_module.Service(
        "probe",
        {"PROBE_PORT": unused_port},
        lambda: [*marker_cmd, svc.marker],
        ready=lambda: True,
        timeout_s=5,
    )
    svc.up()
    pid = svc.pid()
    assert pid is not None
    svc.up()
    assert svc.pid() == pid, "a second up started another process"
    svc.down()
    assert svc.pid() is None
    assert not stack_module._alive(pid)


def test_a_process_that_dies_at_start_fails_with_the_end_of_its_log(
    stack_module: ModuleType, unused_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    svc = stack_module.Service(
        "probe",
        {"PROBE_PORT": unused_port},
        lambda: ["sh", "-c", "echo boom: bad config; exit 3"],
        ready=lambda: False,
        timeout_s=5,
    )
    with pytest.raises(SystemExit):
        svc.up()
    assert "boom: bad config" in capsys.readouterr().err


def test_verify_reports_a_changed_or_missing_artifact(stack_module: ModuleType) -> None:
    jar = stack_module.CACHE / "flink-jars" / "x.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"original")
    lock = {"flink-jars/x.jar": stack_module._sha256(jar), "flink-jars/gone.jar": "0" * 64}
    assert stack_module._verify(lock) == ["flink-jars/gone.jar"]
    jar.write_bytes(b"tampered")
    assert stack_module._verify(lock) == ["flink-jars/x.jar", "flink-jars/gone.jar"]


def test_the_committed_lock_covers_every_pinned_component() -> None:
    lock = (STACK.parent / "artifacts.sha256").read_text()
    pom = (STACK.parent / "pom.xml").read_text()
    for needle in (
        "kafka_2.13-",
        "flink-sql-connector-kafka-",
        "apicurio-registry-app-",
        "log4j-core-",
        "apicurio-registry-converter/apicurio-registry-utils-converter-",
        "apicurio-registry-converter/avro-",
    ):
        assert needle in lock, f"{needle} is not in artifacts.sha256"
    # the worker provides Kafka's and Connect's API and slf4j: the converter's folder must not
    # bring its own (Connect loads them parent-first; a second copy only misleads)
    converter = [line.split()[1] for line in lock.splitlines() if "apicurio-registry-converter/" in line]
    assert not [j for j in converter if re.search(r"/(kafka-clients|connect-|slf4j)", j)], converter
    assert "<module>avro-converter</module>" in pom
    assert "<kafka.version>4." in pom, "the broker must be Kafka 4.x"


def test_avro_values_go_in_the_confluent_wire_format_with_content_ids(stack_module: ModuleType) -> None:
    conf = stack_module.connector_config("crm", fmt="avro")
    assert conf["value.converter"] == "io.apicurio.registry.utils.converter.AvroConverter"
    assert "key.converter" not in conf, "keys stay the worker's JSON"
    registry = {
        k.removeprefix("value.converter."): v for k, v in conf.items() if k.startswith("value.converter.")
    }
    assert registry == {
        "apicurio.registry.url": f"http://127.0.0.1:{stack_module.REGISTRY_PORT}/apis/registry/v2",
        "apicurio.registry.auto-register": "true",
        "apicurio.registry.id-handler": "io.apicurio.registry.serde.Legacy4ByteIdHandler",
        "apicurio.registry.use-id": "contentId",
        "apicurio.registry.headers.enabled": "false",
    }
    assert not any(k.startswith("value.converter") for k in stack_module.connector_config("crm", fmt="json"))


def test_the_converter_manifest_names_the_converter_and_is_the_same_every_time(
    stack_module: ModuleType,
) -> None:
    import zipfile

    stack_module.AVRO_CONVERTER_PLUGIN.mkdir(parents=True)
    stack_module._write_converter_manifest()
    first = stack_module.AVRO_CONVERTER_MANIFEST.read_bytes()
    with zipfile.ZipFile(stack_module.AVRO_CONVERTER_MANIFEST) as zf:
        services = zf.read("META-INF/services/org.apache.kafka.connect.storage.Converter").decode()
    assert services.split() == [stack_module.AVRO_CONVERTER_CLASS]
    stack_module.AVRO_CONVERTER_MANIFEST.unlink()
    stack_module._write_converter_manifest()
    assert stack_module.AVRO_CONVERTER_MANIFEST.read_bytes() == first
    assert stack_module.AVRO_CONVERTER_MANIFEST not in stack_module._cached_files(), "generated, not locked"


def test_kafka_cluster_id_is_a_22_char_base64url_uuid(stack_module: ModuleType) -> None:
    cid = stack_module._kafka_cluster_id()
    assert len(cid) == 22 and "=" not in cid and "+" not in cid and "/" not in cid


def test_a_broker_that_has_logged_megabytes_since_it_started_still_counts_as_started(
    stack_module: ModuleType, tmp_path: Path
) -> None:
    log = tmp_path / "kafka.log"
    filler = b"INFO [GroupCoordinator id=1] Stabilized group g generation 1 with 1 members.\n" * 40_000
    log.write_bytes(
        b"\n==== 2026-11-23T08:00:00 java ...\nINFO Kafka Server started\n"
        + filler
        + b"\n==== 2026-11-23T09:00:00 java ...\nINFO Kafka Server started\n"
        + filler
    )
    since = stack_module._since_last_start(log)
    assert since.startswith(b"\n==== 2026-11-23T09:00:00") and b"Kafka Server started" in since

    log.write_bytes(log.read_bytes() + b"\n==== 2026-11-23T10:00:00 java ...\nINFO starting\n")
    assert b"Kafka Server started" not in stack_module._since_last_start(log)
    assert stack_module._since_last_start(tmp_path / "missing.log") == b""


def test_a_kafka_cluster_id_never_starts_with_a_dash(
    stack_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storage tool reads `-t -x4a...` as an option: a fresh clone failed on one such id."""
    import uuid

    draws = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(int=7)])  # "-wAA..." first
    monkeypatch.setattr(stack_module.uuid, "uuid4", lambda: next(draws))
    cid = stack_module._kafka_cluster_id()
    assert len(cid) == 22 and not cid.startswith("-")
    assert cid == "AAAAAAAAAAAAAAAAAAAABw"


def test_a_change_waits_no_more_than_a_short_poll_for_connect(stack_module: ModuleType) -> None:
    assert int(stack_module.connector_config("crm", fmt="json")["poll.interval.ms"]) <= 100
