"""The stack's pinned artifacts: resolved with Maven into the cache, checked against
artifacts.sha256, unpacked; and the project's own Flink classes (connectors/java) built.

Standard library only: it runs before the project's virtualenv exists."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path

from stack_base import (
    APICURIO_HOME,
    APICURIO_TARBALL,
    APICURIO_VERSION,
    AVRO_CONVERTER_CLASS,
    AVRO_CONVERTER_MANIFEST,
    AVRO_CONVERTER_PLUGIN,
    CACHE,
    CONNECT_PLUGINS,
    CONVERTER_POM,
    DEBEZIUM_PLUGIN,
    DEBEZIUM_TARBALL,
    DEBEZIUM_VERSION,
    FETCH_STAMP,
    FLINK_JARS,
    FLINK_SQL_JARS,
    HELPER_DIR,
    HELPER_JAR,
    KAFKA_LIBS,
    LOCK,
    POM,
    REPO,
    fail,
    say,
)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _locked() -> dict[str, str]:
    if not LOCK.exists():
        return {}
    out = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, rel = line.split(maxsplit=1)
            out[rel.strip()] = digest
    return out


def _cached_files() -> list[Path]:
    files = sorted(KAFKA_LIBS.glob("*.jar")) + sorted(FLINK_JARS.glob("*.jar"))
    files += sorted(FLINK_SQL_JARS.glob("*.jar"))
    files += [t for t in (APICURIO_TARBALL, DEBEZIUM_TARBALL) if t.exists()]
    files += [j for j in sorted(AVRO_CONVERTER_PLUGIN.glob("*.jar")) if j != AVRO_CONVERTER_MANIFEST]
    return files


def _poms_digest() -> str:
    """One digest of the pom and its module: either changing means a new fetch."""
    h = hashlib.sha256()
    for pom in (POM, CONVERTER_POM):
        h.update(_sha256(pom).encode())
    return h.hexdigest()


def _write_converter_manifest() -> None:
    """A jar holding only META-INF/services for the converter, so that the worker's
    plugin.discovery=service_load sees it. Same bytes every time (fixed entry dates)."""
    import zipfile

    services = "META-INF/services/org.apache.kafka.connect.storage.Converter"
    entry = zipfile.ZipInfo(services, (1980, 1, 1, 0, 0, 0))
    tmp = AVRO_CONVERTER_MANIFEST.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(entry, AVRO_CONVERTER_CLASS + "\n")
    tmp.rename(AVRO_CONVERTER_MANIFEST)


def _verify(lock: dict[str, str]) -> list[str]:
    """Names of locked files that are missing or whose hash differs."""
    bad = []
    for rel, digest in lock.items():
        p = CACHE / rel
        if not p.exists() or _sha256(p) != digest:
            bad.append(rel)
    return bad


def _maven(args: list[str]) -> bool:
    """Run Maven with strict checksums; if that fails, once more with lax ones.

    A mirror sometimes serves a jar without its .sha1 (seen on 2026-12-07 for
    flink-sql-avro-confluent-registry), and strict mode refuses it. The retry is safe
    because every artifact the stack uses is then checked against artifacts.sha256."""
    if subprocess.run(["mvn", "-B", "-q", "--strict-checksums", *args]).returncode == 0:
        return True
    say(
        "Maven refused with strict checksums; trying once more with lax ones"
        " (the jars are then checked against artifacts.sha256)"
    )
    return subprocess.run(["mvn", "-B", "-q", "--lax-checksums", *args]).returncode == 0


def fetch(relock: bool = False) -> None:
    """Resolve the pinned artifacts with Maven into the cache and check their hashes."""
    lock = _locked()
    pom_hash = _poms_digest()
    stamp_ok = FETCH_STAMP.exists() and FETCH_STAMP.read_text().strip() == pom_hash
    if stamp_ok and not relock and lock and not _verify(lock):
        say(f"artifacts already in {CACHE} (hashes checked, nothing downloaded)")
    else:
        if shutil.which("mvn") is None:
            fail("Maven (mvn) is not installed: run `apt-get install -y maven`, then try again.")
        say(f"resolving pinned artifacts with Maven into {CACHE} (first time: about a minute)")
        CACHE.mkdir(parents=True, exist_ok=True)
        # copy-dependencies never deletes: start clean so a version change leaves no stale jars
        shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
        shutil.rmtree(FLINK_JARS, ignore_errors=True)
        shutil.rmtree(FLINK_SQL_JARS, ignore_errors=True)
        shutil.rmtree(AVRO_CONVERTER_PLUGIN, ignore_errors=True)
        args = [
            "-f",
            str(POM),
            "generate-resources",
            f"-Dstack.cache={CACHE}",
            f"-Dconnect.plugins={CONNECT_PLUGINS}",
        ]
        if not _maven(args):
            fail(
                "Maven could not fetch the artifacts (see its output above). Check that Maven "
                "Central is reachable, or that ~/.m2 has them."
            )
        if relock or not lock:
            lines = [
                "# sha256 of every artifact fetched by deploy/local/pom.xml, relative to the cache.",
                "# Regenerate after a version change: python3 deploy/local/stack.py fetch --relock",
            ]
            lines += [f"{_sha256(p)}  {p.relative_to(CACHE)}" for p in _cached_files()]
            LOCK.write_text("\n".join(lines) + "\n")
            say(f"wrote {LOCK.relative_to(REPO)}")
            lock = _locked()
        bad = _verify(lock)
        if bad:
            fail(
                "these artifacts do not match deploy/local/artifacts.sha256: "
                + ", ".join(bad)
                + ". If you changed a version in pom.xml on purpose, run `stack.py fetch --relock`."
            )
        FETCH_STAMP.write_text(pom_hash + "\n")
    if not (APICURIO_HOME / "quarkus-run.jar").exists():
        say(f"unpacking Apicurio Registry {APICURIO_VERSION}")
        tmp = APICURIO_HOME.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(APICURIO_TARBALL) as tf:
            tf.extractall(tmp, filter="data")
        tmp.rename(APICURIO_HOME)
    if not (DEBEZIUM_PLUGIN / f"debezium-connector-postgres-{DEBEZIUM_VERSION}.jar").exists():
        say(f"unpacking the Debezium Postgres connector {DEBEZIUM_VERSION}")
        tmp = CONNECT_PLUGINS.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(DEBEZIUM_TARBALL) as tf:
            tf.extractall(tmp, filter="data")  # one top folder: debezium-connector-postgres/
        DEBEZIUM_PLUGIN.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(DEBEZIUM_PLUGIN, ignore_errors=True)
        (tmp / "debezium-connector-postgres").rename(DEBEZIUM_PLUGIN)
        shutil.rmtree(tmp, ignore_errors=True)
    if not AVRO_CONVERTER_MANIFEST.exists():
        _write_converter_manifest()


def build_helpers() -> None:
    """The project's own Flink classes (connectors/java): rebuilt when a source is newer than the jar."""
    sources = [HELPER_DIR / "pom.xml", *HELPER_DIR.glob("src/**/*.java")]
    if HELPER_JAR.exists() and all(p.stat().st_mtime <= HELPER_JAR.stat().st_mtime for p in sources):
        return
    say("building connectors/java (the job's Kafka record framing)")
    if not _maven(["-Dstyle.color=never", "-f", str(HELPER_DIR / "pom.xml"), "package"]):
        fail("building connectors/java failed (see Maven's output above)")


def flink_jars() -> list[Path]:
    jars = sorted(FLINK_JARS.glob("*.jar"))
    return [*jars, HELPER_JAR] if HELPER_JAR.exists() else jars
