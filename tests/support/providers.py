"""The local provider servers for integration tests: started on free ports, queried over HTTP.

async with dev_providers(tmp_path, receipt_url="http://127.0.0.1:8080/v1/notify/receipts/{provider}") as dp:
    registry = load_registry(dp.config)       # or write dp.write_config(path) for PEONY_NOTIFY_PROVIDERS_FILE
    ...
    [sent] = await dp.messages(message_id=msg_id)
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from services.notify.adapters.providers.config import (
    ProvidersConfig,
    dev_document,
    ensure_dev_service_account,
    parse_config,
)
from services.notify.devproviders.server import DevProviders


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DevProvidersHandle:
    sim: DevProviders
    document: dict[str, Any]  # the providers document notify should use (points at these servers)
    tmp: Path

    @property
    def config(self) -> ProvidersConfig:
        return parse_config(self.document, {})

    def variant(self, **overrides: dict[str, Any]) -> ProvidersConfig:
        """The same configuration with some provider settings changed (e.g. a wrong secret)."""
        doc = json.loads(json.dumps(self.document))
        for name, changes in overrides.items():
            doc["providers"][name].update(changes)
        return parse_config(doc, {})

    def write_config(self, path: Path) -> Path:
        """A JSON file for ``PEONY_NOTIFY_PROVIDERS_FILE`` of a service started as a process."""
        path.write_text(json.dumps(self.document, ensure_ascii=False))
        return path

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        async with aiohttp.ClientSession() as s, s.request(method, f"{self.sim.url}{path}", **kw) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def messages(
        self, provider: str | None = None, message_id: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        params = {"since": str(since)}
        if provider:
            params["provider"] = provider
        if message_id:
            params["message_id"] = message_id
        return (await self._call("GET", "/_sim/messages", params=params))["messages"]

    async def receipts(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/_sim/receipts"))["receipts"]

    async def stats(self) -> dict[str, Any]:
        return await self._call("GET", "/_sim/stats")

    async def fault(self, **body: Any) -> None:
        """Keys: provider, mode (down|error|latency|none), code, latency_ms, count, receipt."""
        await self._call("POST", "/_sim/faults", json=body)

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/_sim/faults")

    async def expire_tokens(self, provider: str) -> None:
        await self._call("POST", "/_sim/expire-tokens", json={"provider": provider})


@asynccontextmanager
async def dev_providers(
    tmp: Path, receipt_url: str | None = None, receipt_delay_seconds: float = 0.05
) -> AsyncIterator[DevProvidersHandle]:
    """HTTP and SMTP servers on free loopback ports; receipts posted to ``receipt_url`` ({provider})
    in batches gathered over ``receipt_delay_seconds``."""
    http_port, smtp_port = free_port(), free_port()
    account = ensure_dev_service_account(tmp / "fcm-service-account.json")
    document = dev_document(f"http://127.0.0.1:{http_port}", smtp_port, account)
    sim = DevProviders(
        parse_config(document, {}), receipt_url=receipt_url, receipt_delay_seconds=receipt_delay_seconds
    )
    await sim.start("127.0.0.1", http_port, smtp_port)
    try:
        yield DevProvidersHandle(sim, document, tmp)
    finally:
        await sim.stop()
