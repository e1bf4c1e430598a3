"""The stack's PostgreSQL: one server holding a database per source system, started as an
unprivileged user when run as root, with the SQL files of deploy/sql applied in order.

Standard library only: it runs before the project's virtualenv exists."""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from stack_base import (
    POSTGRES_PASSWORD,
    POSTGRES_PORT,
    POSTGRES_USER,
    REPO,
    STACK_HOME,
    _port_open,
    fail,
    say,
    service_tag,
)

#: source system (= database = Debezium topic.prefix) -> captured tables, as in CONTRACTS.md
SOURCES: dict[str, tuple[str, ...]] = {
    "inventory": ("products", "stores", "stock_levels"),
    "orders": ("orders", "shipments"),
    "crm": ("customers", "consents"),
    "support": ("tickets",),
    "onboarding": ("applications",),
}
SQL_DIR = REPO / "deploy" / "sql"
PG_LINK = STACK_HOME / "postgres"


def pg_bindir() -> Path:
    """PostgreSQL's server binaries: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        r = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if r.returncode == 0:
            candidates.append(Path(r.stdout.strip()))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for c in candidates:
        if (c / "postgres").exists() and (c / "initdb").exists():
            return c
    fail("PostgreSQL is not installed: run `apt-get install -y postgresql`, then try again.")


def _pg_os_user() -> str | None:
    """The user the server runs as: ourselves, or, as root, an unprivileged one (postgres refuses root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("POSTGRES_OS_USER", "postgres")
    try:
        pwd.getpwnam(name)
    except KeyError:
        say(f"postgres: creating the system user {name!r} to run the server as")
        r = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            fail(f"postgres: could not create user {name!r}: {r.stderr.strip()}")
    return name


def pg_data() -> Path:
    return PG_LINK.resolve() if PG_LINK.is_symlink() else PG_LINK


def _reachable_by(user: str, path: Path) -> bool:
    return subprocess.run(["test", "-x", str(path)], user=user, capture_output=True).returncode == 0


def _pg_prepare() -> None:
    bindir = pg_bindir()
    user = _pg_os_user()
    STACK_HOME.mkdir(parents=True, exist_ok=True)
    fresh = not PG_LINK.exists() and not PG_LINK.is_symlink()
    if user is not None and fresh and not _reachable_by(user, STACK_HOME):
        # e.g. a checkout under /root or in a mktemp folder (mode 700): the server's user cannot
        # reach the data dir there, so it lives in a folder of its own and the stack home points
        # at it. A stack home made anew (`make clean`) gets that folder anew too.
        digest = hashlib.sha256(str(STACK_HOME).encode()).hexdigest()[:12]
        elsewhere = Path("/var/tmp") / f"journey-engine-{digest}" / "postgres"
        say(f"postgres: {user} cannot reach {STACK_HOME}; data in {elsewhere} ({PG_LINK} links to it)")
        shutil.rmtree(elsewhere, ignore_errors=True)
        elsewhere.mkdir(parents=True)
        PG_LINK.symlink_to(elsewhere)
    data = pg_data()
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(data, pw.pw_uid, pw.pw_gid)
    say(f"postgres: initdb in {data}")
    # beside the data folder: the server's user can read it there, wherever the stack home is
    pwfile = data.parent / f".{data.name}.pw"
    pwfile.write_text(POSTGRES_PASSWORD + "\n")
    pwfile.chmod(0o644)  # a local-only password, read by initdb as the server's user
    r = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            POSTGRES_USER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        user=user,
        cwd="/",
    )
    pwfile.unlink(missing_ok=True)
    if r.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        fail(f"postgres: initdb failed:\n{r.stdout}{r.stderr}")


def _pg_command() -> list[str]:
    settings = {
        "port": POSTGRES_PORT,
        "listen_addresses": "127.0.0.1",
        # TCP only: the default socket folder (/var/run/postgresql) belongs to the packaged server
        "unix_socket_directories": "",
        "wal_level": "logical",
        # one slot and one WAL sender per connector (5), with room for a test's own connector
        # and for pg_basebackup/psql replication sessions
        "max_replication_slots": 12,
        "max_wal_senders": 12,
        # a connector that is gone must not fill the disk with WAL its slot holds back
        "max_slot_wal_keep_size": "2GB",
        "shared_buffers": "128MB",
        "log_min_messages": "warning",
        "log_connections": "off",
    }
    cmd = [str(pg_bindir() / "postgres"), "-D", str(pg_data()), "-c", service_tag("postgres")]
    for k, v in settings.items():
        cmd += ["-c", f"{k}={v}"]
    return cmd


def postgres_dsn(dbname: str = "postgres") -> str:
    return f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{POSTGRES_PORT}/{dbname}"


def psql(dbname: str, sql: str, *, single_transaction: bool = False) -> subprocess.CompletedProcess[str]:
    """Run SQL (from stdin) as the stack's superuser over TCP; rows come back tab-separated."""
    cmd = [str(pg_bindir() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    if single_transaction:
        cmd.append("-1")
    cmd += ["-d", f"host=127.0.0.1 port={POSTGRES_PORT} user={POSTGRES_USER} dbname={dbname}", "-f", "-"]
    return subprocess.run(
        cmd,
        input=sql,
        capture_output=True,
        text=True,
        env={**os.environ, "PGPASSWORD": POSTGRES_PASSWORD, "PGCONNECT_TIMEOUT": "2"},
    )


def _pg_answers() -> bool:
    if not _port_open(POSTGRES_PORT):
        return False
    return psql("postgres", "SELECT 1").returncode == 0


def _pg_ready() -> bool:
    if not _port_open(POSTGRES_PORT):
        return False
    names = ",".join(f"'{s}'" for s in SOURCES)
    r = psql("postgres", f"SELECT count(*) FROM pg_database WHERE datname IN ({names})")
    return r.returncode == 0 and r.stdout.strip() == str(len(SOURCES))


def migrations(system: str) -> list[tuple[int, str, Path]]:
    """(version, name, file) of deploy/sql/<system>/V<n>__<name>.sql, in version order."""
    out = []
    for f in (SQL_DIR / system).glob("V*__*.sql"):
        m = re.fullmatch(r"V(\d+)__(.+)\.sql", f.name)
        if m is None:
            fail(f"{f}: migration files are named V<number>__<name>.sql")
        out.append((int(m.group(1)), m.group(2), f))
    out.sort()
    if len({v for v, _, _ in out}) != len(out):
        fail(f"{SQL_DIR / system}: two files share a version number")
    return out


def _pg_configure() -> bool:
    """Create the databases and apply the SQL files not applied yet, each in one transaction."""
    for system in SOURCES:
        r = psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{system}'")
        if r.returncode != 0:
            return False  # still starting up; tried again
        if r.stdout.strip() != "1":
            say(f"postgres: creating database {system}")
            r = psql("postgres", f"CREATE DATABASE {system}")
            if r.returncode != 0:
                fail(f"postgres: CREATE DATABASE {system} failed: {r.stderr.strip()}")
        # outside `public`, so that no connector captures it
        r = psql(
            system,
            "CREATE SCHEMA IF NOT EXISTS stack;"
            "CREATE TABLE IF NOT EXISTS stack.schema_version (version integer PRIMARY KEY,"
            " name text NOT NULL, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());"
            "SELECT version, sha256 FROM stack.schema_version;",
        )
        if r.returncode != 0:
            fail(f"postgres: reading {system}'s schema versions failed: {r.stderr.strip()}")
        applied = dict(line.split("|") for line in r.stdout.split())
        for version, name, path in migrations(system):
            sql = path.read_text()
            digest = hashlib.sha256(sql.encode()).hexdigest()
            if str(version) in applied:
                if applied[str(version)] != digest:
                    fail(
                        f"{path.relative_to(REPO)} changed after it was applied to {system}; "
                        f"add V{version + 1}__... instead (or `make clean` to start afresh)"
                    )
                continue
            say(f"postgres: {system}: applying {path.name}")
            r = psql(
                system,
                f"{sql}\n;INSERT INTO stack.schema_version (version, name, sha256)"
                f" VALUES ({version}, '{name}', '{digest}');",
                single_transaction=True,
            )
            if r.returncode != 0:
                fail(f"postgres: {path.relative_to(REPO)} failed on {system}:\n{r.stderr.strip()}")
    return True
