"""The one interface every notify channel provider implements, and the registry that picks them.

The notify pipeline only sees :class:`OutgoingMessage` going in and :class:`SendResult` /
:class:`ProviderError` coming out; receipt callbacks come back through
:meth:`Provider.parse_receipt`. Which provider serves a tenant's channel (primary first, then
fallbacks) is configuration, read by :func:`services.notify.adapters.providers.config.load_registry`.

Addresses (phone numbers, e-mails, openids, push tokens) live only in memory here: nothing in
this package logs them, puts them in exception text or returns them in a receipt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

CHANNELS = ("sms", "email", "wechat", "push")


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str  # notify's deterministic id; provider idempotency/client id where the API has one
    tenant: str
    channel: str  # "sms" | "email" | "wechat" | "push"
    address: str  # E.164 phone / e-mail / WeChat openid / push token — plaintext ONLY in memory, never logged
    locale: str  # "zh-CN" | "en"
    text: str  # rendered plain-text body
    subject: str | None = None  # e-mail subject
    html: str | None = None  # e-mail HTML part
    template_code: str | None = None  # provider-registered template (SMS template code, WeChat template id)
    params: Mapping[str, str] = field(default_factory=dict)  # template params for SMS / WeChat
    link: str | None = None  # optional deep link (WeChat page / push click action)

    def __repr__(self) -> str:  # the address must never reach a log line through a repr
        return (
            f"OutgoingMessage(message_id={self.message_id!r}, tenant={self.tenant!r}, "
            f"channel={self.channel!r}, locale={self.locale!r})"
        )


@dataclass(frozen=True)
class SendResult:
    provider: str  # provider name, e.g. "aliyun_sms"
    provider_message_id: str  # the provider's id, used to match receipts
    billable_units: int  # SMS segments charged; 0 for free channels


class ProviderError(Exception):
    """A send the provider refused or could not take.

    ``retryable`` says whether the same message may succeed later (timeouts, 5xx, throttling)
    or never will (invalid number, unapproved template, bad credentials). ``reason`` is the
    provider's own error code/message and never contains the address.
    """

    def __init__(self, reason: str, *, retryable: bool, provider: str, maybe_sent: bool = False):
        super().__init__(f"{provider}: {reason} ({'retryable' if retryable else 'permanent'})")
        self.reason = reason
        self.retryable = retryable
        self.provider = provider
        # The request may have reached the provider and been accepted (a timeout, a connection
        # lost after the request went out): the outcome is unknown, not a refusal.
        self.maybe_sent = maybe_sent


class InvalidReceipt(Exception):
    """A receipt callback with a bad signature, a malformed body or for an unknown provider.

    The callback is refused and nothing is written.
    """


@dataclass(frozen=True)
class DeliveryReceipt:
    provider: str
    provider_message_id: str
    status: str  # "delivered" | "failed"
    reason: str | None
    occurred_at: datetime  # UTC


@runtime_checkable
class Provider(Protocol):
    name: str
    channel: str
    receipt_ack: tuple[str, bytes]

    async def send(self, message: OutgoingMessage) -> SendResult: ...

    def parse_receipt(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> list[DeliveryReceipt]:
        """The receipts in one provider callback; raises :class:`InvalidReceipt`.

        ``query`` is the callback's query string (WeChat signs its pushes there). The answer the
        provider expects back is ``receipt_ack``: ``(content_type, body)``.
        """
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class LookupResult:
    """A provider's answer about a message it was given earlier (an in-doubt claim's reconciliation).

    ``sent.provider_message_id`` is empty when the provider's query API does not return its own id
    (Alibaba's ``QuerySendDetails``); ``status`` is "delivered" / "failed" once the provider knows,
    None while the message is still on its way.
    """

    sent: SendResult
    status: str | None = None
    reason: str | None = None
    occurred_at: datetime | None = None


@runtime_checkable
class Reconcilable(Protocol):
    """A provider that can say whether it accepted a message id (Alibaba / Tencent SMS)."""

    async def lookup(self, message: OutgoingMessage, sent_since: datetime) -> LookupResult | None:
        """The provider's record of ``message.message_id`` sent to ``message.address`` at or after
        ``sent_since``; None when it has none. Raises :class:`ProviderError` when it cannot tell."""
        ...


def can_reconcile(provider: Provider) -> bool:
    """True when a repeat of an in-doubt message cannot reach the member twice through ``provider``:
    it drops a repeated message id (``idempotent_submit``) or it can be asked (``lookup``)."""
    return bool(getattr(provider, "idempotent_submit", False)) or isinstance(provider, Reconcilable)


class UnknownProvider(InvalidReceipt, LookupError):
    """No provider of that name is configured: a receipt callback for it is refused like a forged one."""


class ProviderRegistry:
    """Providers chosen per tenant and channel by configuration: primary first, then fallbacks."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        default_routes: Mapping[str, list[str]],
        tenant_routes: Mapping[str, Mapping[str, list[str]]] | None = None,
        prices_minor: Mapping[str, int] | None = None,
    ):
        self._providers = dict(providers)
        self._default = {ch: list(names) for ch, names in default_routes.items()}
        self._tenants = {t: {ch: list(n) for ch, n in r.items()} for t, r in (tenant_routes or {}).items()}
        self._prices = dict(prices_minor or {})

    def for_channel(self, tenant: str, channel: str) -> list[Provider]:
        """The providers to try for ``channel`` in order; empty when the channel is not configured."""
        routes = self._tenants.get(tenant, {})
        names = routes[channel] if channel in routes else self._default.get(channel, [])
        return [self._providers[name] for name in names]

    def by_name(self, name: str) -> Provider:
        """The provider a receipt callback ``/v1/notify/receipts/{provider}`` names."""
        try:
            return self._providers[name]
        except KeyError:
            raise UnknownProvider(name) from None

    def price_per_unit_minor(self, provider: str) -> int:
        """The configured price of one billable unit (an SMS segment) in minor units (fen); 0 if free."""
        return self._prices.get(provider, 0)

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


# --- SMS segment counting -------------------------------------------------------------------------

# GSM 03.38 basic character set (one septet each) and its extension table (escape + char: two).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` is billed as.

    GSM-7 text: 160 septets in one segment, 153 per segment when concatenated (the extension
    characters cost two septets). Anything else — Chinese included — is UCS-2: 70 UTF-16 code
    units in one segment, 67 per segment when concatenated. An empty message still costs one.
    """
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        septets = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)
