"""Kafka that speaks only TLS with SASL/SCRAM, and the schema registry behind HTTP basic auth,
for the tests that prove the job runs against a secured deployment.

Everything is made fresh in a folder of the test's own: a certificate authority, the broker's
certificate signed by it (for 127.0.0.1 and localhost), a SCRAM user written into the broker's
storage when it is formatted, and a password for the registry. The broker is a second KRaft
node from the same Kafka jars as the local stack's (deploy/local/stack.py), on free ports; the
registry is the local stack's Apicurio behind a small reverse proxy that wants a user and a
password, as a registry behind an authenticating gateway does.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.stack import stack_module

SCRAM = "SCRAM-SHA-512"
_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class SecureStack:
    bootstrap_servers: str
    #: the CA that signed the broker's certificate, PEM
    ca_file: Path
    kafka_user: str
    kafka_password: str
    registry_url: str
    registry_user: str
    registry_password: str
    #: the broker's own log
    broker_log: Path
    #: how many requests the registry's proxy has let through
    registry_requests: Callable[[], int]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificates(folder: Path) -> tuple[Path, Path]:
    """A CA and a server certificate signed by it; (the CA's PEM, the server's key and chain PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("journey tests CA"))
        .issuer_name(name("journey tests CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    # Kafka's PEM key store: an unencrypted PKCS#8 key, then the certificate chain
    server_file = folder / "server.pem"
    server_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + server.public_bytes(serialization.Encoding.PEM)
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    return ca_file, server_file


def _broker_properties(folder: Path, server_pem: Path, port: int, inter: int, controller: int) -> str:
    # Clients have the SASL_SSL listener only. The broker's own traffic (here: none, one node)
    # and the controller stay on loopback listeners of their own.
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=SASL_SSL://127.0.0.1:{port},BROKER://127.0.0.1:{inter},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_SSL://127.0.0.1:{port},BROKER://127.0.0.1:{inter}
controller.listener.names=CONTROLLER
inter.broker.listener.name=BROKER
listener.security.protocol.map=SASL_SSL:SASL_SSL,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms={SCRAM}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={_SCRAM_MODULE} required;
ssl.keystore.type=PEM
ssl.keystore.location={server_pem}
log.dirs={folder / "data"}
{stack_module().BROKER_DEFAULTS}"""


@contextmanager
def secured_kafka(folder: Path) -> Iterator[tuple[str, Path, str, str, Path]]:
    """A KRaft broker with one SASL_SSL listener; (bootstrap, CA file, user, password, log)."""
    local = stack_module()
    ca_file, server_pem = make_certificates(folder)
    user, password = "journey-job", secrets.token_urlsafe(18)
    port, inter, controller = free_port(), free_port(), free_port()
    props = folder / "server.properties"
    props.write_text(_broker_properties(folder, server_pem, port, inter, controller))
    (folder / "log4j2.yaml").write_text(local._log4j2_yaml({"kafka.request.logger": "WARN"}))
    java = [
        str(local.find_java(17)),
        "-Xmx384m",
        "-cp",
        str(local.KAFKA_LIBS / "*"),
        f"-Dlog4j2.configurationFile={folder / 'log4j2.yaml'}",
    ]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=").replace("-", "A")
    formatted = subprocess.run(
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(props),
            "--add-scram",
            f"{SCRAM}=[name={user},password={password}]",
        ],
        capture_output=True,
        text=True,
    )
    if formatted.returncode != 0:
        raise RuntimeError(
            f"formatting the secured broker's storage failed:\n{formatted.stdout}{formatted.stderr}"
        )
    log = folder / "broker.log"
    with log.open("wb") as out:
        broker = subprocess.Popen([*java, "kafka.Kafka", str(props)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while b"Kafka Server started" not in log.read_bytes():
            if broker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the secured broker did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", ca_file, user, password, log
    finally:
        broker.terminate()
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


class _BasicAuthProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, user: str, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream.rstrip("/")
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.refused = 0
        self.forwarded = 0


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _BasicAuthProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        if self.headers.get("Authorization") != self.expected_header():
            self.server.refused += 1
            body = b'{"error_code":401,"message":"Unauthorized"}'
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="registry"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.server.forwarded += 1
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        request = urllib.request.Request(self.server.upstream + self.path, data=data, method=self.command)
        for header in ("Content-Type", "Accept"):
            if self.headers.get(header):
                request.add_header(header, self.headers[header])
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                status, body, kind = r.status, r.read(), r.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            status, body, kind = e.code, e.read(), e.headers.get("Content-Type")
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def expected_header(self) -> str:
        return self.server.expected

    do_GET = do_POST = do_PUT = do_DELETE = _forward


@contextmanager
def registry_behind_basic_auth(registry_url: str) -> Iterator[tuple[str, str, str, _BasicAuthProxy]]:
    """The registry at `registry_url` behind a proxy that wants a user and a password;
    (its URL, user, password, the proxy)."""
    user, password = "journey-registry", secrets.token_urlsafe(18)
    scheme_host, _, path = registry_url.partition("//")[2].partition("/")
    proxy = _BasicAuthProxy(f"http://{scheme_host}", user, password)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}/{path}", user, password, proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


@contextmanager
def secure_stack(folder: Path, registry_url: str) -> Iterator[SecureStack]:
    with (
        secured_kafka(folder) as (bootstrap, ca, user, password, log),
        registry_behind_basic_auth(registry_url) as (url, r_user, r_password, proxy),
    ):
        yield SecureStack(
            bootstrap, ca, user, password, url, r_user, r_password, log, lambda: proxy.forwarded
        )
