"""The message (通知): one notification to one recipient, caused by one trigger of one event.

Pure model, no I/O. The rule the rest of the service builds on: **at most one message per
(trigger event, trigger, recipient)** within a tenant — and so at most one per (trigger event,
channel, recipient), whichever channel the policy picks. It is enforced twice: by the primary
key, and by making the message id a pure function of those values (:func:`message_id_for`), so a
redelivered event always names the same message and a provider given the id as its idempotency
key recognises a message it has already taken.

Lifecycle::

    queued ──► sent ──► delivered
      │ ▲        └────► failed (receipt)
      │ └─ deferred (quiet hours; due again at ``due_time``)
      ├──► suppressed (a rule said no: consent, caps, spend cap, ...)     terminal
      └──► failed (retries and failover exhausted) ──retry──► queued
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
STATE_DEFERRED = "deferred"
STATE_SENT = "sent"
STATE_DELIVERED = "delivered"
STATE_FAILED = "failed"
STATE_SUPPRESSED = "suppressed"
# Claimed by a dispatcher, committed before the provider call; ``due_time`` is the claim's lease.
# Still "queued" to the API. A row found here after its lease is in doubt: the dispatcher stopped
# between calling the provider and recording what it answered (dispatch.py says what happens then).
STATE_SENDING = "sending"
STATES = (
    STATE_QUEUED,
    STATE_SENDING,
    STATE_SENT,
    STATE_DELIVERED,
    STATE_FAILED,
    STATE_SUPPRESSED,
    STATE_DEFERRED,
)
PENDING_STATES = (STATE_QUEUED, STATE_DEFERRED)  # waiting for the policy step
DUE_STATES = (*PENDING_STATES, STATE_SENDING)  # picked up by the dispatcher when due

TRIGGER_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # the shape of any trigger key

# Fixed namespace for deterministic message ids (never change it: ids already issued depend on it).
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1c2b0e-7d54-5b8e-9a43-1d2f0c7e5a61")


class MessageStateError(ValueError):
    """A state transition the message's lifecycle does not allow."""


def message_id_for(tenant: str, trigger_event_id: str, trigger: str, recipient: str) -> str:
    """The one id of the message for (tenant, trigger event, trigger, recipient): a UUIDv5.

    Deterministic on purpose: every handling of the same event computes the same id, so the
    insert is a no-op the second time and providers can drop an id they already accepted.
    """
    if not TRIGGER_KEY.match(trigger):
        raise ValueError(f"not a trigger key: {trigger!r}")
    key = "\x1f".join((tenant, str(uuid.UUID(trigger_event_id)), trigger, recipient))
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, key))


def message_name(message_id: str) -> str:
    return f"messages/{message_id}"


@dataclass
class Message:
    """One row of ``messages``. ``body`` is filled when the message is rendered (at send time,
    in the recipient's locale); no address is ever held here, only its keyed hash and mask."""

    message_id: str
    recipient: str  # members/{id} or, for staff messages, stores/{id}
    trigger: str
    trigger_event_id: str
    purpose: str
    channel: str = ""  # chosen by the policy; empty until decided
    locale: str = ""
    body: str = ""
    state: str = STATE_QUEUED
    attempts: int = 0
    last_error: str = ""
    decision: str = ""  # the last policy decision, e.g. "deferred until ...: QUIET_HOURS"
    due_time: datetime | None = None
    provider: str = ""
    provider_message_id: str = ""
    address_hash: str = ""
    address_masked: str = ""
    billable_units: int = 0
    cost_minor: int = 0
    create_time: datetime | None = None
    send_time: datetime | None = None
    deliver_time: datetime | None = None

    @property
    def name(self) -> str:
        return message_name(self.message_id)

    def _require(self, *states: str) -> None:
        if self.state not in states:
            raise MessageStateError(f"message {self.message_id} is {self.state}, not {'/'.join(states)}")

    def claim(self, at: datetime, lease_until: datetime) -> None:
        """About to call the provider: one attempt, committed before the call."""
        self._require(*PENDING_STATES)
        self.attempts += 1
        self.state = STATE_SENDING
        self.send_time = at
        self.due_time = lease_until

    def reclaim(self, lease_until: datetime) -> None:
        """An in-doubt claim taken again to be reconciled: one more attempt and a new lease.
        ``send_time`` stays the earlier claim's: the provider is asked about sends since then."""
        self._require(STATE_SENDING)
        self.attempts += 1
        self.due_time = lease_until

    def hold_in_doubt(self, until: datetime, error: str) -> None:
        """Reconciliation could not tell yet (the provider or members did not answer): still in
        doubt — never re-queued, which would send it without asking — looked at again at ``until``."""
        self._require(STATE_SENDING)
        self.due_time = until
        self.last_error = error[:500]

    def mark_sent(self, at: datetime, *, channel: str, provider: str, provider_message_id: str) -> None:
        self._require(STATE_SENDING)
        self.state = STATE_SENT
        self.channel = channel
        self.send_time = at
        self.provider = provider
        self.provider_message_id = provider_message_id
        self.last_error = ""

    def mark_deferred(self, until: datetime, decision: str) -> None:
        self._require(*PENDING_STATES)
        self.state = STATE_DEFERRED
        self.due_time = until
        self.decision = decision

    def mark_suppressed(self, decision: str) -> None:
        self._require(*PENDING_STATES)
        self.state = STATE_SUPPRESSED
        self.decision = decision
        self.due_time = None

    def retry_later(self, until: datetime, error: str) -> None:
        """Every provider failed for now (or members did not answer): try again at ``until``."""
        self._require(*PENDING_STATES, STATE_SENDING)
        if self.state != STATE_SENDING:  # a claim counted its attempt already
            self.attempts += 1
        self.state = STATE_QUEUED
        self.due_time = until
        self.last_error = error[:500]

    def mark_failed(self, error: str) -> None:
        """Given up (permanent error, or retries exhausted); ``retry`` can re-queue it."""
        self._require(*PENDING_STATES, STATE_SENDING, STATE_SENT)
        if self.state in PENDING_STATES:
            self.attempts += 1
        self.state = STATE_FAILED
        self.last_error = error[:500]
        self.due_time = None

    def mark_delivered(self, at: datetime) -> None:
        self._require(STATE_SENT)
        self.state = STATE_DELIVERED
        self.deliver_time = at

    def requeue(self, at: datetime) -> None:
        """A failed message sent again on request (``RetryMessage``)."""
        self._require(STATE_FAILED)
        self.state = STATE_QUEUED
        self.due_time = at
        self.attempts = 0
        self.decision = "retry requested"
