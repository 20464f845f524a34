"""Notify's channel providers behind one adapter interface (:mod:`.base`), configured by :mod:`.config`."""

from services.notify.adapters.providers.base import (
    CHANNELS,
    DeliveryReceipt,
    InvalidReceipt,
    LookupResult,
    OutgoingMessage,
    Provider,
    ProviderError,
    ProviderRegistry,
    SendResult,
    UnknownProvider,
    sms_segments,
)
from services.notify.adapters.providers.config import load_registry

__all__ = [
    "CHANNELS",
    "DeliveryReceipt",
    "InvalidReceipt",
    "LookupResult",
    "OutgoingMessage",
    "Provider",
    "ProviderError",
    "ProviderRegistry",
    "SendResult",
    "UnknownProvider",
    "load_registry",
    "sms_segments",
]
