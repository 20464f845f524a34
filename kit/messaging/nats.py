"""Connecting to NATS JetStream: reconnect forever, bounded timeouts, logged connection changes."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

__all__ = ["NATS", "JetStreamContext", "auth_options", "connect", "redact_url"]


def redact_url(url: str) -> str:
    """``nats://user:secret@host:4222`` -> ``nats://***@host:4222`` (for logs)."""
    out = []
    for one in url.split(","):
        parts = urlsplit(one.strip())
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=netloc)
        out.append(urlunsplit(parts))
    return ",".join(out)


def auth_options(settings: Any | None) -> dict[str, Any]:
    """nats-py ``connect`` keyword arguments for a ``kit.config.NatsSettings``: a ``.creds`` file
    or an nkey seed file (nats-py reads both from the path), and TLS with a CA bundle and an
    optional client certificate (mutual TLS)."""
    if settings is None:
        return {}
    options: dict[str, Any] = {}
    if settings.creds_file:
        options["user_credentials"] = settings.creds_file
    if settings.nkey_seed_file:
        options["nkeys_seed"] = settings.nkey_seed_file
    if settings.tls:
        context = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=settings.tls_ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if settings.tls_cert_file:
            context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
        options["tls"] = context
        if settings.tls_hostname:
            options["tls_hostname"] = settings.tls_hostname
    return options


async def connect(
    url: str,
    name: str,
    *,
    settings: Any | None = None,
    connect_timeout: float = 5.0,
    reconnect_time_wait: float = 2.0,
    max_reconnect_attempts: int = -1,
    ping_interval: float = 20.0,
    max_outstanding_pings: int = 3,
    request_timeout: float = 5.0,
) -> tuple[NATS, JetStreamContext]:
    """Connect to ``url`` (comma-separated for a cluster) as client ``name``.

    Reconnects forever by default (``max_reconnect_attempts=-1``, which also makes the first
    connection wait for the server); messages published while disconnected are buffered by the
    client, and a JetStream publish that gets no ack within ``request_timeout`` fails. A dead
    connection is noticed after ``ping_interval * max_outstanding_pings`` seconds at most.
    ``max_reconnect_attempts=0`` means no second attempt at all: a refused first connection
    (bad credentials, untrusted certificate, no server) raises at once. nats-py itself reads 0 as
    "no limit" and would retry a refusing server every ``reconnect_time_wait`` forever.
    ``settings`` (``kit.config.NatsSettings``) adds credentials and TLS.
    """
    log = structlog.get_logger("kit.messaging.nats").bind(nats_client=name)
    safe_url = redact_url(url)
    nc = NATS()

    async def disconnected_cb() -> None:
        log.warning("nats.disconnected", url=safe_url)

    async def reconnected_cb() -> None:
        log.info("nats.reconnected", url=safe_url)

    async def error_cb(exc: Exception) -> None:
        log.warning("nats.error", error=f"{type(exc).__name__}: {exc}")

    async def closed_cb() -> None:
        log.info("nats.closed", url=safe_url)

    await nc.connect(
        servers=[u.strip() for u in url.split(",") if u.strip()],
        name=name,
        allow_reconnect=max_reconnect_attempts != 0,
        max_reconnect_attempts=max_reconnect_attempts,
        reconnect_time_wait=reconnect_time_wait,  # type: ignore[arg-type]
        connect_timeout=connect_timeout,  # type: ignore[arg-type]
        ping_interval=ping_interval,  # type: ignore[arg-type]
        max_outstanding_pings=max_outstanding_pings,
        disconnected_cb=disconnected_cb,
        reconnected_cb=reconnected_cb,
        error_cb=error_cb,
        closed_cb=closed_cb,
        **auth_options(settings),
    )
    log.info("nats.connected", url=safe_url)
    return nc, nc.jetstream(timeout=request_timeout)
