"""NATS credentials and TLS from PEONY_NATS_* (kit.config.load_nats_settings -> kit.messaging.connect)
against a real nats-server that requires mutual TLS and an nkey user: the configured client gets
JetStream; a client without the seed, or that does not trust the server's CA, is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import nkeys
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cli.devstack import nats_server_binary
from kit.config import ConfigError, load_config, load_nats_settings
from kit.messaging import connect
from kit.messaging.streams import ensure_stream, stream_name

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cert(
    tmp: Path, name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, *, server: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (tmp / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / f"{name}-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("nats-tls")
    ca = _cert(tmp, "ca", None, server=False)
    _cert(tmp, "server", ca, server=True)
    _cert(tmp, "client", ca, server=False)
    _cert(tmp, "other-ca", None, server=False)
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    (tmp / "user.nk").write_bytes(seed + b"\n")
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    port = _free_port()
    (tmp / "nats.conf").write_text(
        f"""
listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{tmp / "js"}" }}
tls {{
  cert_file: "{tmp / "server.pem"}"
  key_file: "{tmp / "server-key.pem"}"
  ca_file: "{tmp / "ca.pem"}"
  verify: true
}}
authorization {{ users: [ {{ nkey: {public} }} ] }}
"""
    )
    log = (tmp / "nats.log").open("wb")
    proc = subprocess.Popen(
        [str(nats_server_binary()), "-c", str(tmp / "nats.conf")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp / "nats.log").read_text()
                assert time.monotonic() < deadline, "nats-server did not start"
                time.sleep(0.1)
        yield {
            "PEONY_NATS_URL": f"tls://127.0.0.1:{port}",
            "PEONY_NATS_NKEY_SEED_FILE": str(tmp / "user.nk"),
            "PEONY_NATS_TLS_CA_FILE": str(tmp / "ca.pem"),
            "PEONY_NATS_TLS_CERT_FILE": str(tmp / "client.pem"),
            "PEONY_NATS_TLS_KEY_FILE": str(tmp / "client-key.pem"),
            "other_ca": str(tmp / "other-ca.pem"),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


async def test_configured_client_gets_jetstream_over_mutual_tls_with_its_nkey(
    secured_nats: dict[str, str],
) -> None:
    env = {k: v for k, v in secured_nats.items() if k.startswith("PEONY_")}
    config = load_config("members", {**env, "PEONY_DATABASE_URL": "postgresql://u@h/"})
    assert config.nats.tls and config.nats.nkey_seed_file
    nc, js = await connect(config.nats_url, "peony-test", settings=config.nats, max_reconnect_attempts=0)
    try:
        assert nc.is_connected and nc.connected_url is not None and nc.connected_url.scheme == "tls"
        service = f"tls{os.getpid()}"
        await ensure_stream(js, service, replicas=config.nats.stream_replicas)
        ack = await js.publish(f"peony.{service}.x", b"{}")
        assert ack.stream == stream_name(service)
    finally:
        await nc.close()


async def _refused(url: str, settings: object) -> BaseException:
    with pytest.raises(Exception) as caught:  # nats-py raises several kinds
        nc, _ = await asyncio.wait_for(
            connect(url, "peony-test", settings=settings, max_reconnect_attempts=0, connect_timeout=3), 15
        )
        await nc.close()
    # A refusal, not the 15 s guard: a client retrying a refusing server would also "raise".
    assert not isinstance(caught.value, (asyncio.TimeoutError, TimeoutError)), caught.value
    return caught.value


async def test_client_without_the_nkey_seed_is_refused(secured_nats: dict[str, str]) -> None:
    env = {k: v for k, v in secured_nats.items() if k.startswith("PEONY_") and "NKEY" not in k}
    await _refused(env["PEONY_NATS_URL"], load_nats_settings(env))


async def test_client_that_does_not_trust_the_server_ca_is_refused(secured_nats: dict[str, str]) -> None:
    env = {k: v for k, v in secured_nats.items() if k.startswith("PEONY_")}
    env["PEONY_NATS_TLS_CA_FILE"] = secured_nats["other_ca"]
    await _refused(env["PEONY_NATS_URL"], load_nats_settings(env))


def test_bad_nats_settings_fail_at_start_with_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_nats_settings(
            {
                "PEONY_NATS_CREDS_FILE": str(tmp_path / "missing.creds"),
                "PEONY_NATS_TLS_CERT_FILE": str(tmp_path / "missing.pem"),
                "PEONY_NATS_STREAM_REPLICAS": "7",
            }
        )
    text = str(caught.value)
    assert "PEONY_NATS_CREDS_FILE" in text and "not a readable file" in text
    assert "PEONY_NATS_TLS_CERT_FILE and PEONY_NATS_TLS_KEY_FILE go together" in text
    assert "PEONY_NATS_STREAM_REPLICAS='7'" in text


async def test_stream_replicas_beyond_the_cluster_fail_with_the_setting_named(
    secured_nats: dict[str, str],
) -> None:
    from kit.messaging.streams import StreamReplicasError

    env = {k: v for k, v in secured_nats.items() if k.startswith("PEONY_")}
    settings = load_nats_settings({**env, "PEONY_NATS_STREAM_REPLICAS": "3"})
    nc, js = await connect(env["PEONY_NATS_URL"], "peony-test", settings=settings, max_reconnect_attempts=0)
    try:
        service = f"r3{os.getpid()}"
        with pytest.raises(StreamReplicasError, match="PEONY_NATS_STREAM_REPLICAS=3"):
            await ensure_stream(js, service, replicas=settings.stream_replicas)
        await ensure_stream(js, service, replicas=1)  # a single server holds R1
        assert (await js.stream_info(stream_name(service))).config.num_replicas == 1
    finally:
        await nc.close()
