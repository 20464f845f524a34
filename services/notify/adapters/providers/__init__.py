"""Notify's channel providers behind one adapter interface (see :mod:`.base`)."""

from services.notify.adapters.providers.base import (
    CHANNELS,
    DeliveryReceipt,
    InvalidReceipt,
    OutgoingMessage,
    Provider,
    ProviderError,
    ProviderRegistry,
    SendResult,
    UnknownProvider,
    sms_segments,
)


def load_registry(config):
    """The registry described by ``PEONY_NOTIFY_PROVIDERS_FILE`` (see :mod:`.config`)."""
    from services.notify.adapters.providers.config import load_registry as _load

    return _load(config)


__all__ = [
    "CHANNELS",
    "DeliveryReceipt",
    "InvalidReceipt",
    "OutgoingMessage",
    "Provider",
    "ProviderError",
    "ProviderRegistry",
    "SendResult",
    "UnknownProvider",
    "load_registry",
    "sms_segments",
]
