"""The message (通知): one notification to one recipient over one channel, caused by one trigger.

Pure model, no I/O. The rule the rest of the service builds on: **at most one message per
(trigger event, channel, recipient)** within a tenant. It is enforced twice — by the database's
unique key on exactly those columns, and by making the message id a pure function of them
(:func:`message_id_for`), so a redelivered event always names the same message and a delivery
provider can recognise a message it has already sent.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

# --- channels ----------------------------------------------------------------------------------
CHANNEL_SMS = "sms"
CHANNEL_EMAIL = "email"
CHANNEL_WECHAT = "wechat"
CHANNEL_APP_PUSH = "app_push"
CHANNELS = (CHANNEL_SMS, CHANNEL_EMAIL, CHANNEL_WECHAT, CHANNEL_APP_PUSH)

# --- states ------------------------------------------------------------------------------------
STATE_QUEUED = "queued"
STATE_SENT = "sent"
STATE_DELIVERED = "delivered"
STATE_FAILED = "failed"
STATES = (STATE_QUEUED, STATE_SENT, STATE_DELIVERED, STATE_FAILED)

# --- triggers ----------------------------------------------------------------------------------
# What caused a message. Transactional triggers are sent regardless of marketing consent;
# marketing triggers (campaigns, re-engagement, ...) will also pass consent, quiet hours and caps.
TRIGGER_WELCOME = "welcome"
TRANSACTIONAL_TRIGGERS = frozenset({TRIGGER_WELCOME})
TRIGGERS = frozenset(TRANSACTIONAL_TRIGGERS)
TRIGGER_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # the shape of any trigger, known today or later

# Fixed namespace for deterministic message ids (never change it: ids already issued depend on it).
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1c2b0e-7d54-5b8e-9a43-1d2f0c7e5a61")


class MessageStateError(ValueError):
    """A state transition the message's lifecycle does not allow."""


def message_id_for(tenant: str, trigger_event_id: str, channel: str, recipient: str) -> str:
    """The one id of the message for (tenant, trigger event, channel, recipient): a UUIDv5.

    Deterministic on purpose: every delivery of the same event computes the same id, which is what
    lets delivery adapters drop a message they already sent (see ``services.notify.adapters.sinks``).
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    key = "\x1f".join((tenant, str(uuid.UUID(trigger_event_id)), channel, recipient))
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, key))


def message_name(message_id: str) -> str:
    return f"messages/{message_id}"


@dataclass
class Message:
    message_id: str
    recipient: str  # a resource name, e.g. members/{id}
    channel: str
    trigger: str
    trigger_event_id: str
    locale: str
    body: str
    state: str = STATE_QUEUED
    attempts: int = 0
    last_error: str = ""
    create_time: datetime | None = None
    send_time: datetime | None = None

    @classmethod
    def new(
        cls,
        *,
        tenant: str,
        recipient: str,
        channel: str,
        trigger: str,
        trigger_event_id: str,
        locale: str,
        body: str,
    ) -> Message:
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {trigger!r}")
        return cls(
            message_id=message_id_for(tenant, trigger_event_id, channel, recipient),
            recipient=recipient,
            channel=channel,
            trigger=trigger,
            trigger_event_id=str(uuid.UUID(trigger_event_id)),
            locale=locale,
            body=body,
        )

    @property
    def name(self) -> str:
        return message_name(self.message_id)

    @property
    def is_transactional(self) -> bool:
        return self.trigger in TRANSACTIONAL_TRIGGERS

    def mark_sent(self, at: datetime) -> None:
        """The provider accepted the message (one attempt more)."""
        if self.state != STATE_QUEUED:
            raise MessageStateError(f"cannot send a message in state {self.state}")
        self.attempts += 1
        self.state = STATE_SENT
        self.send_time = at
        self.last_error = ""

    def mark_failed(self, error: str) -> None:
        """The provider refused the message for good (no retry can help)."""
        if self.state != STATE_QUEUED:
            raise MessageStateError(f"cannot fail a message in state {self.state}")
        self.attempts += 1
        self.state = STATE_FAILED
        self.last_error = error[:500]

    def mark_delivered(self) -> None:
        """A provider receipt confirmed delivery to the handset / inbox."""
        if self.state != STATE_SENT:
            raise MessageStateError(f"cannot mark a message in state {self.state} delivered")
        self.state = STATE_DELIVERED
