"""Credentials of a Peony service calling another one as itself (role `service` in kit/auth.py),
never with its caller's token (a member's token, say, may not write to the wallet).

Every call carries a bearer token whose `tenant` claim is the tenant the call acts for, i.e. the
tenant of the request being served (or of the job item being worked on). Two sources:

- a token file named by `PEONY_<SERVICE>_SERVICE_TOKEN_FILE` or `PEONY_SERVICE_TOKEN_FILE`
  (production: a mounted secret, rotated by rewriting the file; re-read when it changes). It
  holds either one token, used only for the tenant its `tenant` claim names, or a JSON object
  `{tenant: token}`;
- otherwise, when the HS256 secret is configured (development, tests), a short-lived HS256 token
  minted per tenant and cached until shortly before it expires.

A call for a tenant without a credential fails with `ServiceCredentialError`, before anything is
sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt

from kit import deadline
from kit.auth import mint_dev_token
from kit.config import AuthConfig, ServiceConfig
from kit.retry import RetryBudget, backoff_delay, retry_info_delay
from kit.throttle import ThrottledLocally

TOKEN_FILE_VAR = "PEONY_SERVICE_TOKEN_FILE"  # noqa: S105 - the name of a variable, not a secret
ROLE = "service"
MINTED_TTL_SECONDS = 300
RENEW_BEFORE_SECONDS = 60
# What a service keeps of its caller's deadline for itself when it calls another service: time to
# map the downstream answer and reply before its own caller gives up.
DOWNSTREAM_MARGIN_S = 0.05


class ServiceCredentialError(Exception):
    """No usable service credential for a tenant (no token file entry, no HS256 secret)."""


@dataclass
class _FileTokens:
    version: tuple[int, int]  # (mtime, size) of the file when read
    by_tenant: dict[str, str]


class ServiceCredentials:
    def __init__(
        self,
        service: str,
        *,
        auth: AuthConfig | None = None,
        token_file: str | None = None,
        extra_roles: tuple[str, ...] = (),
    ):
        self.service = service
        self.subject = f"services/{service}"
        self.roles = [ROLE, *extra_roles]  # e.g. notify's `notifier` (kit/auth.py)
        self._auth = auth
        self._token_file = Path(token_file) if token_file else None
        self._file: _FileTokens | None = None
        self._minted: dict[str, tuple[str, float]] = {}  # tenant -> (token, expires at)

    @classmethod
    def from_config(
        cls,
        config: ServiceConfig,
        environ: dict[str, str] | None = None,
        *,
        extra_roles: tuple[str, ...] = (),
    ) -> ServiceCredentials:
        env = os.environ if environ is None else environ
        token_file = config.extra.get(f"PEONY_{config.service.upper()}_SERVICE_TOKEN_FILE") or env.get(
            TOKEN_FILE_VAR
        )
        return cls(config.service, auth=config.auth, token_file=token_file or None, extra_roles=extra_roles)

    @property
    def configured(self) -> bool:
        return self._token_file is not None or bool(self._auth and self._auth.hs256_secret)

    def token(self, tenant: str) -> str:
        if not tenant:
            raise ServiceCredentialError("a service call needs the tenant it acts for")
        if self._token_file is not None:
            return self._from_file(tenant)
        if self._auth is None or not self._auth.hs256_secret:
            raise ServiceCredentialError(
                f"no service credential: set {TOKEN_FILE_VAR} (or configure the HS256 secret)"
            )
        now = time.time()
        cached = self._minted.get(tenant)
        if cached is not None and cached[1] - RENEW_BEFORE_SECONDS > now:
            return cached[0]
        token = mint_dev_token(
            tenant=tenant,
            subject=self.subject,
            roles=self.roles,
            ttl_seconds=MINTED_TTL_SECONDS,
            secret=self._auth.hs256_secret,
            issuer=self._auth.issuer,
            audience=self._auth.audience,
        )
        self._minted[tenant] = (token, now + MINTED_TTL_SECONDS)
        return token

    def metadata(self, tenant: str) -> tuple[tuple[str, str], ...]:
        """gRPC call metadata carrying the service's token for `tenant`."""
        return (("authorization", f"Bearer {self.token(tenant)}"),)

    def _from_file(self, tenant: str) -> str:
        assert self._token_file is not None
        try:
            stat = self._token_file.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            if self._file is None or self._file.version != version:
                self._file = _FileTokens(version, _parse_tokens(self._token_file.read_text()))
        except OSError as exc:
            raise ServiceCredentialError(f"cannot read the service token file: {exc}") from exc
        token = self._file.by_tenant.get(tenant)
        if token is None:
            raise ServiceCredentialError(f"the service token file has no token for tenant {tenant!r}")
        return token


def _parse_tokens(text: str) -> dict[str, str]:
    """`{tenant: token}` from a JSON object, or from one bare token by its `tenant` claim."""
    text = text.strip()
    if text.startswith("{"):
        try:
            mapping = json.loads(text)
        except ValueError as exc:
            raise ServiceCredentialError("the service token file is not valid JSON") from exc
        return {str(k): str(v).strip() for k, v in mapping.items()}
    if not text:
        return {}
    try:
        # Only to file the token under its tenant; the receiving service verifies it.
        claims = jwt.decode(text, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ServiceCredentialError("the service token file does not hold a JWT") from exc
    tenant = claims.get("tenant")
    return {tenant: text} if isinstance(tenant, str) and tenant else {}


async def call_with_retries(
    rpc: Callable[..., Awaitable[Any]],
    request: Any,
    *,
    metadata: tuple[tuple[str, str], ...],
    deadline_s: float,
    attempts: int,
    backoff_s: float,
    retryable: Callable[[grpc.aio.AioRpcError], bool],
    budget: RetryBudget,
) -> Any:
    """One service-to-service call, tried up to `attempts` times; the last error is raised as it
    came (each client maps it).

    Time: the whole call, retries included, ends at the earlier of `deadline_s` from now and the
    deadline of the RPC being served (`kit.deadline`) less `DOWNSTREAM_MARGIN_S`, and each attempt
    carries what is left as its gRPC deadline, so the server downstream knows it too. With no time
    left nothing is sent: DEADLINE_EXCEEDED at once.

    Retries, without amplifying an overload (`kit.retry`): only while `retryable(error)` holds,
    after a jittered exponential backoff from `backoff_s`, and only while `budget` allows.
    A call refused by the client's own adaptive throttle (`kit.throttle.ThrottledLocally`) is
    raised at once: never retried, no budget token spent (the throttle counted that attempt).
    RESOURCE_EXHAUSTED is retried only when the server sent a `RetryInfo`, no sooner than its
    delay, and only if that delay fits the deadline; without one it is raised at once.
    """
    end = time.monotonic() + deadline_s
    inbound = deadline.expires_at()
    if inbound is not None:
        end = min(end, inbound - DOWNSTREAM_MARGIN_S)
    for attempt in range(1, max(1, attempts) + 1):
        left = end - time.monotonic()
        if left < deadline.MIN_REMAINING_S:
            raise _deadline_exceeded("no time left for the call")
        try:
            response = await rpc(request, metadata=metadata, timeout=left)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if isinstance(exc, ThrottledLocally):
                # Refused by this process's own throttle (kit/throttle.py), which counted the
                # attempt: the target failed nothing (no budget token), and trying again at once
                # would only slip past the throttle.
                raise
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                budget.on_failure()
                wait = retry_info_delay(exc)
                if wait is None:  # a quota, not a load signal: retrying would not help
                    raise
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                budget.on_failure()
                raise
            elif retryable(exc):
                budget.on_failure()
                wait = backoff_delay(attempt, backoff_s)
            else:
                raise
            fits = time.monotonic() + wait + deadline.MIN_REMAINING_S < end
            if attempt >= attempts or not fits or not budget.can_retry():
                raise
            await asyncio.sleep(wait)
        else:
            budget.on_success()
            return response
    raise AssertionError("unreachable")


def _deadline_exceeded(details: str) -> grpc.aio.AioRpcError:
    """The error a call that was never sent fails with, as grpc would report an expired one."""
    return grpc.aio.AioRpcError(
        grpc.StatusCode.DEADLINE_EXCEEDED, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details
    )
