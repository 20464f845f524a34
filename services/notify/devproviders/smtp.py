"""A local SMTP server (``aiosmtpd``) that records every message it accepts.

It offers STARTTLS with a self-signed certificate made at start (clients set ``verify_tls:
false``), and requires AUTH when the ``smtp`` provider in the configuration has a username.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import ssl
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from services.notify.devproviders.server import DevProviders


class _Handler:
    def __init__(self, sim: DevProviders, provider: str):
        self.sim = sim
        self.provider = provider

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        from services.notify.devproviders.server import record_email

        fault = self.sim.take_fault(self.provider)
        if fault is not None and fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault is not None and fault.mode == "down":
            return "421 4.3.2 Service not available"
        if fault is not None and fault.mode == "error":
            code = fault.code or "550"
            return f"{code} 5.1.1 Requested action not taken" if code.startswith("5") else f"{code} Try later"
        envelope._peony_auth_user = session.auth_data.login.decode() if session.auth_data else None
        envelope._peony_tls = session.ssl is not None
        record_email(self.sim, self.provider, envelope, envelope.original_content or envelope.content)
        return "250 2.0.0 OK: queued"


def _authenticator(username: str, password: str):
    def check(server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, username.encode()) and hmac.compare_digest(
            auth_data.password, password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


def _self_signed_context() -> ssl.SSLContext:
    """A server TLS context for ``localhost``/``127.0.0.1`` with a throw-away key and certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peony-dev-smtp")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
    return context


@dataclass
class SmtpServer:
    server: asyncio.Server
    port: int

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_smtp(sim: DevProviders, host: str, port: int) -> SmtpServer:
    """Serve SMTP for the first ``smtp`` provider in the configuration (AUTH required if it has a user)."""
    names = [n for n, s in sim.config.providers.items() if s["type"] == "smtp"]
    provider = names[0] if names else "smtp"
    settings = sim.config.providers.get(provider, {})
    username, password = settings.get("username"), settings.get("password")
    handler = _Handler(sim, provider)
    tls_context = _self_signed_context()

    def factory() -> SMTP:
        if username and password:
            # Local development only: AUTH over plaintext on loopback is what the dev config uses.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return SMTP(
                handler,
                hostname="peony-dev-smtp",
                tls_context=tls_context,
                authenticator=_authenticator(username, password),
                auth_required=True,
                auth_require_tls=False,
            )
        return SMTP(handler, hostname="peony-dev-smtp", tls_context=tls_context)

    server = await asyncio.get_running_loop().create_server(factory, host, port)
    return SmtpServer(server, server.sockets[0].getsockname()[1])
