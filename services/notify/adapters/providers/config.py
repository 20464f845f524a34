"""Provider configuration (``PEONY_NOTIFY_PROVIDERS_FILE``) — the loader lands in the next commit."""

from __future__ import annotations

from services.notify.adapters.providers.base import ProviderRegistry


def load_registry(config) -> ProviderRegistry:
    raise NotImplementedError(
        "provider configuration loading is not written yet (next commit on h-providers)"
    )
