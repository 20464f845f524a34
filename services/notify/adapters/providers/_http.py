"""One aiohttp session per provider, and the mapping of transport failures to :class:`ProviderError`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from services.notify.adapters.providers.base import ProviderError

DEFAULT_TIMEOUT_SECONDS = 10.0


def retryable_status(status: int) -> bool:
    """5xx, 408 and 429 may succeed later; any other 4xx (auth, bad request) never will."""
    return status >= 500 or status in (408, 429)


class HttpClient:
    """A lazily opened :class:`aiohttp.ClientSession` (it must be created inside the running loop)."""

    def __init__(self, provider: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS):
        self.provider = provider
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def request(self, method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
        """``(status, body)``; a timeout or a connection failure is a retryable :class:`ProviderError`."""
        try:
            async with self._get_session().request(method, url, **kwargs) as resp:
                return resp.status, await resp.read()
        except TimeoutError:
            raise ProviderError("timeout", retryable=True, provider=self.provider, maybe_sent=True) from None
        except aiohttp.ClientError as exc:
            # Not connected at all: nothing was sent. Anything later (the server went away while we
            # waited for its answer): the request may have been taken.
            raise ProviderError(
                f"connection failed: {type(exc).__name__}",
                retryable=True,
                provider=self.provider,
                maybe_sent=not isinstance(exc, aiohttp.ClientConnectorError),
            ) from None

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
            # let the connector's transports finish closing before the loop moves on
            await asyncio.sleep(0)


def json_body(provider: str, status: int, body: bytes) -> Any:
    """The JSON a provider answered. Anything else (a proxy's HTML error page) is an error, retryable
    unless the status is a 4xx other than 408/429."""
    try:
        return json.loads(body)
    except ValueError:
        raise ProviderError(
            f"HTTP {status} with a non-JSON body",
            retryable=retryable_status(status) or status < 400,
            provider=provider,
        ) from None
