"""deploy/local/stack_fetch.py: the cache is checked against the lock, which covers every pinned
component; the converter's manifest is made the same every time."""

from __future__ import annotations

import re
from types import SimpleNamespace

from tests.unit.deploy.conftest import LOCAL


def test_verify_reports_a_changed_or_missing_artifact(local: SimpleNamespace) -> None:
    jar = local.fetch.CACHE / "flink-jars" / "x.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"original")
    lock = {"flink-jars/x.jar": local.fetch._sha256(jar), "flink-jars/gone.jar": "0" * 64}
    assert local.fetch._verify(lock) == ["flink-jars/gone.jar"]
    jar.write_bytes(b"tampered")
    assert local.fetch._verify(lock) == ["flink-jars/x.jar", "flink-jars/gone.jar"]


def test_the_committed_lock_covers_every_pinned_component() -> None:
    lock = (LOCAL / "artifacts.sha256").read_text()
    pom = (LOCAL / "pom.xml").read_text()
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


def test_the_converter_manifest_names_the_converter_and_is_the_same_every_time(
    local: SimpleNamespace,
) -> None:
    import zipfile

    local.fetch.AVRO_CONVERTER_PLUGIN.mkdir(parents=True)
    local.fetch._write_converter_manifest()
    first = local.fetch.AVRO_CONVERTER_MANIFEST.read_bytes()
    with zipfile.ZipFile(local.fetch.AVRO_CONVERTER_MANIFEST) as zf:
        services = zf.read("META-INF/services/org.apache.kafka.connect.storage.Converter").decode()
    assert services.split() == [local.fetch.AVRO_CONVERTER_CLASS]
    local.fetch.AVRO_CONVERTER_MANIFEST.unlink()
    local.fetch._write_converter_manifest()
    assert local.fetch.AVRO_CONVERTER_MANIFEST.read_bytes() == first
    assert local.fetch.AVRO_CONVERTER_MANIFEST not in local.fetch._cached_files(), "generated, not locked"
