"""The dispatcher: takes due messages off the durable send queue and sends them, under the rules.

One batch is two database transactions around the provider calls:

  1. claim (one transaction, one commit): lock up to N due messages (``FOR UPDATE SKIP LOCKED``:
     replicas share the queue; nothing is held in memory between batches, so a deferred message
     is just a row with a later ``due_time``); resolve the recipients' contacts (members'
     ResolveContact, concurrently, memory only); per message, the policy step
     (``domain.policy.decide``) on the facts (consent, quiet hours in the store's zone, marketing
     volume, the tenant's spend) — suppressed and deferred messages are done here; a send on a
     paid channel reserves its cost with one conditional upsert. Every message to be sent is
     *claimed*: state ``sending``, one attempt counted, ``due_time`` set to a lease longer than
     every provider's timeout together. The claims are committed before any provider is called;
  2. send every claimed message concurrently, each through its channel's providers in order
     (failover), with notify's message id as the provider's idempotency / client id;
  3. record (one transaction): lock the claims still ours (same attempt, still ``sending``) and
     record each outcome (sent / retry later with backoff / failed) with its events (outbox).

If the process dies between a provider accepting a message and step 3, the claim stays
``sending`` until its lease runs out; then it is *in doubt* and the next batch reconciles it
instead of blindly sending it again. It keeps the channel, text and address hash it was claimed
with (no second policy decision: it may already be at the member) and is claimed again:

  - every provider of its route that can be asked (``lookup``: Alibaba ``QuerySendDetails`` by
    ``OutId``, Tencent ``PullSmsSendStatusByPhoneNumber`` by ``SessionContext`` — both carry
    notify's message id) is asked first; found → recorded as sent (and delivered / failed when the
    provider already knows), with the provider's id where its API returns one;
  - not found anywhere → sent again with the same id; providers that drop a repeated id
    (``idempotent_submit``: the webhook's ``Idempotency-Key``) need no question — a repeat is a
    no-op there. Exactly once at the provider, none lost;
  - a provider or members that cannot answer now → still in doubt, asked again after a backoff
    (never re-queued, which would send without asking), failed ``IN_DOUBT`` when attempts run out;
  - a route with a provider that can neither be asked nor drops a repeat (SMTP, WeChat, FCM), or a
    recipient whose address changed since the claim → failed ``IN_DOUBT`` and an operator decides
    (``peony notify retry`` re-sends it): at most once there. Only the claims of the batch in flight
    when the process died are ever in doubt.

A provider call that gets no answer (a timeout, a connection lost after the request went out) is
the same doubt without a kill: the provider may have taken the message. On a route that can be
reconciled the message is neither failed over nor retried at once — failing over to the next
provider is how a slow provider turns into two SMS — it stays claimed and is held in doubt for a
backoff, then reconciled as above.

The lease (``PEONY_NOTIFY_SEND_TIMEOUT_SECONDS`` times the claim's provider calls, plus a margin)
is how long after a kill its claims wait; Tencent's query lists a message once its operator report
is back, which the lease leaves time for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from peony.notify.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.crypto import PiiCipher
from kit.db import retry_transaction, session_factory
from kit.logging import get_logger
from kit.masking import mask_email, mask_phone, mask_secret
from services.notify.adapters import metrics
from services.notify.adapters.contacts import Contact, ContactsUnavailable, RecipientNotFound
from services.notify.adapters.providers.base import (
    LookupResult,
    OutgoingMessage,
    Provider,
    ProviderError,
    ProviderRegistry,
    Reconcilable,
    SendResult,
    can_reconcile,
    sms_segments,
)
from services.notify.adapters.repository import (
    lock_claims,
    lock_due,
    lock_provider_ids,
    lock_recipients,
    save_many,
    take_early_receipts,
)
from services.notify.domain.context import event_context
from services.notify.domain.message import (
    CHANNEL_APP_PUSH,
    CHANNEL_EMAIL,
    CHANNEL_SMS,
    STATE_DEFERRED,
    STATE_SENDING,
    STATE_SUPPRESSED,
    Message,
)
from services.notify.domain.policy import (
    DEFER,
    PAID_CHANNELS,
    SUPPRESS,
    Decision,
    Usage,
    decide,
)
from services.notify.domain.templates import Template, TemplateBook
from services.notify.domain.triggers import AUDIENCE_STAFF, BY_KEY, REMINDER, Trigger
from services.notify.service_layer.handlers import channel_to_proto, decode_event
from services.notify.service_layer.receipts import apply_receipt
from services.notify.service_layer.unit_of_work import SERVICE, NotifyUnitOfWork
from services.notify.settings import NotifySettings

log = get_logger("peony.notify.dispatch")
_tracer = trace.get_tracer("peony.notify.dispatch")


@contextlib.contextmanager
def _no_statement_spans() -> Iterator[None]:
    """SQLAlchemy's instrumentation skips statements run in this context (the suppression key
    only its instrumentation and OpenTelemetry's own instrumentors read; kit's gRPC client spans
    are not affected)."""
    token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        otel_context.detach(token)


# Notify's channel names -> the providers' (services/notify/adapters/providers/base.py CHANNELS).
PROVIDER_CHANNEL = {CHANNEL_APP_PUSH: "push"}

# (tenant, {recipient: its trigger}) -> {recipient: Contact or RecipientNotFound}; raises
# ContactsUnavailable when the recipients cannot be resolved now.
ContactResolver = Callable[[str, dict[str, Trigger]], Awaitable[dict[str, Contact | RecipientNotFound]]]


def provider_channel(channel: str) -> str:
    return PROVIDER_CHANNEL.get(channel, channel)


def mask_address(channel: str, address: str) -> str:
    if channel == CHANNEL_SMS:
        return mask_phone(address)
    if channel == CHANNEL_EMAIL:
        return mask_email(address)
    return mask_secret(address)


@dataclass
class _Item:
    tenant: str
    message: Message
    event_type: str
    payload: bytes
    trigger: Trigger | None = None
    contact: Contact | Exception | None = None
    # set when the message is to be sent in this batch
    outgoing: OutgoingMessage | None = None
    providers: list[Provider] = field(default_factory=list)
    reservation: tuple[date, int, int] | None = None  # (day, cost, units) reserved on the spend cap
    result: SendResult | None = None
    errors: list[ProviderError] = field(default_factory=list)
    # an in-doubt claim being reconciled: when its earlier claim was made (ask providers since then)
    in_doubt_since: datetime | None = None
    found: LookupResult | None = None  # a provider had it
    # a provider did not answer a send (it may have it) or could not say whether it had it
    unanswered: ProviderError | None = None


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        registry: ProviderRegistry,
        resolve: ContactResolver,
        cipher: PiiCipher,
        settings: NotifySettings,
    ):
        self._sessions = session_factory(engine)
        self._registry = registry
        self._resolve = resolve
        self._cipher = cipher
        self._settings = settings

    # --- one batch ------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Works one batch; returns how many messages it took off the queue.

        One span for the batch instead of one per SQL statement (a batch runs ~10 statements; their
        spans were a measurable share of notify's CPU per message): the statement spans are
        suppressed, the contacts call and the provider calls stay children of the batch's span."""
        with _tracer.start_as_current_span("notify.dispatch_batch") as span:
            with _no_statement_spans():
                taken, claimed = await retry_transaction(self._claim)
            span.set_attribute("peony.notify.taken", taken)
            span.set_attribute("peony.notify.claimed", len(claimed))
            if claimed:
                await asyncio.gather(*(self._send(item) for item in claimed))
                with _no_statement_spans():
                    await retry_transaction(lambda: self._record_batch(claimed))
            return taken

    def _lease(self, providers: list[Provider], *, in_doubt: bool = False) -> timedelta:
        """Longer than the claim's provider calls can take (each timing out) and its record."""
        calls = len(providers) + (sum(isinstance(p, Reconcilable) for p in providers) if in_doubt else 0)
        return timedelta(seconds=self._settings.send_timeout_s * (calls + 1) + 5)

    async def _claim(self) -> tuple[int, list[_Item]]:
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            locked = await lock_due(session, now=now, limit=self._settings.dispatch_batch)
            if not locked:
                return 0, []
            items = [_Item(tenant, m, et, payload) for tenant, m, et, payload in locked]
            await self._resolve_contacts(items)
            # The frequency caps' per-recipient locks, all at once in a fixed order (held to commit).
            await lock_recipients(
                session,
                [
                    (item.tenant, item.message.recipient)
                    for item in items
                    if item.trigger is not None
                    and item.trigger.is_marketing
                    and item.message.state != STATE_SENDING
                ],
            )
            uows: dict[str, NotifyUnitOfWork] = {}
            books: dict[str, TemplateBook] = {}
            planned: Counter[tuple[str, str]] = Counter()  # marketing sends planned in this batch
            # (tenant, day) whose cap this batch has marked reached already: once is enough
            capped: set[tuple[str, date]] = set()
            for item in items:
                uow = uows.get(item.tenant)
                if uow is None:
                    uow = uows[item.tenant] = NotifyUnitOfWork.joined(
                        session, service=SERVICE, tenant=item.tenant
                    )
                    books[item.tenant] = await self._book(uow)
                if item.message.state == STATE_SENDING:
                    self._plan_in_doubt(uow, books[item.tenant], item, now)
                    continue
                await self._plan(uow, books[item.tenant], item, now, planned, capped)
                if item.outgoing is not None:
                    item.message.claim(now, now + self._lease(item.providers))
            await save_many(session, [(item.tenant, item.message) for item in items])
            for uow in uows.values():
                await uow.commit()
        return len(items), [item for item in items if item.outgoing is not None]

    def _plan_in_doubt(self, uow: NotifyUnitOfWork, book: TemplateBook, item: _Item, now: datetime) -> None:
        """An in-doubt claim (its dispatcher stopped after calling the provider, or before): claimed
        again to be reconciled in the send step, as it was first planned — or failed IN_DOUBT."""
        m, trigger, contact = item.message, item.trigger, item.contact
        route = self._registry.for_channel(uow.tenant, provider_channel(m.channel)) if m.channel else []
        m.reclaim(now + self._lease(route, in_doubt=True))
        if not route or not all(can_reconcile(p) for p in route):
            self._fail(
                uow,
                item,
                "IN_DOUBT: the dispatcher stopped between calling the provider and recording its answer,"
                " and the provider can neither be asked nor drops a repeat; not re-sent automatically"
                " (the member may have it). `peony notify retry` re-sends it.",
            )
            return
        if isinstance(contact, ContactsUnavailable) or contact is None:
            self._hold_or_fail(uow, item, now, "IN_DOUBT: members did not answer; reconciled later")
            return
        address = contact.addresses.get(m.channel, "") if isinstance(contact, Contact) else ""
        same_address = bool(address) and self._address_hash(uow.tenant, m.channel, address) == m.address_hash
        if trigger is None or not same_address:
            self._fail(
                uow,
                item,
                "IN_DOUBT: the recipient's address changed or is gone since the send was claimed, so the"
                " provider cannot be asked about it; `peony notify retry` re-sends it.",
            )
            return
        assert isinstance(contact, Contact)
        fields = event_context(decode_event(item.event_type, item.payload))
        rendered = book.render(
            trigger.key,
            m.channel,
            m.locale or contact.locale,
            event=fields,
            member={"display_name": contact.display_name},
            tz=fields.get("time_zone") or contact.time_zone,
        )
        cap = self._settings.spend_cap_for(uow.tenant)
        if m.channel in PAID_CHANNELS and cap is not None:
            # the earlier claim's reservation still stands: released if this attempt fails
            units = sms_segments(m.body)
            cost = units * self._registry.price_per_unit_minor(route[0].name)
            item.reservation = (self._spend_day(m.send_time or now), cost, units)
        item.providers = route
        item.in_doubt_since = m.send_time or now
        item.outgoing = self._outgoing(
            uow.tenant, m, address, rendered.template_code, rendered.subject, m.body
        )
        log.info("notify.in_doubt_reconciling", message=m.name, providers=[p.name for p in route])

    def _hold_or_fail(self, uow: NotifyUnitOfWork, item: _Item, now: datetime, reason: str) -> None:
        m = item.message
        backoff = self._settings.retry_backoff_s
        if m.attempts < self._settings.max_attempts:
            m.hold_in_doubt(now + timedelta(seconds=backoff[min(m.attempts - 1, len(backoff) - 1)]), reason)
        else:
            self._fail(uow, item, f"{reason} (attempts exhausted; `peony notify retry` re-sends it)")

    async def _record_batch(self, claimed: list[_Item]) -> None:
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            ours = await lock_claims(
                session, [(i.tenant, i.message.message_id, i.message.attempts) for i in claimed]
            )
            items = [i for i in claimed if (i.tenant, i.message.message_id) in ours]
            taken = {
                (i.result.provider, i.result.provider_message_id): i
                for i in items
                if i.result is not None and i.result.provider_message_id
            }
            # Receipts for these sends may already be here (a fast provider): with the same locks
            # the receipts side takes, either it sees our sends committed or we see its receipts.
            await lock_provider_ids(session, list(taken))
            uows: dict[str, NotifyUnitOfWork] = {}
            for item in items:
                uow = uows.get(item.tenant)
                if uow is None:
                    uow = uows[item.tenant] = NotifyUnitOfWork.joined(
                        session, service=SERVICE, tenant=item.tenant
                    )
                await self._record(uow, item, now)
            for early in await take_early_receipts(session, list(taken)):
                item = taken[(early.provider, early.provider_message_id)]
                apply_receipt(uows[item.tenant], item.message, early.status, early.reason, early.occurred_at)
            await save_many(session, [(item.tenant, item.message) for item in items])
            for uow in uows.values():
                await uow.commit()

    async def _book(self, uow: NotifyUnitOfWork) -> TemplateBook:
        stored = await uow.templates.all()
        overrides: dict[tuple[str, str, str], Template] = {key: tpl for key, (tpl, _, _) in stored.items()}
        return TemplateBook(overrides)

    async def _resolve_contacts(self, items: list[_Item]) -> None:
        """Each distinct recipient once: one resolution per tenant of the batch, concurrently."""
        wanted: dict[str, dict[str, Trigger]] = {}
        for item in items:
            item.trigger = BY_KEY.get(item.message.trigger)
            if item.trigger is not None:
                wanted.setdefault(item.tenant, {}).setdefault(item.message.recipient, item.trigger)

        async def one(tenant: str) -> dict[str, Contact | RecipientNotFound] | ContactsUnavailable:
            try:
                return await self._resolve(tenant, wanted[tenant])
            except ContactsUnavailable as exc:
                return exc

        tenants = list(wanted)
        found = dict(zip(tenants, await asyncio.gather(*(one(t) for t in tenants)), strict=True))
        for item in items:
            contacts = found.get(item.tenant)
            if isinstance(contacts, ContactsUnavailable):
                item.contact = contacts
            elif contacts is not None:
                item.contact = contacts.get(item.message.recipient)

    # --- policy and planning ----------------------------------------------------------------------
    def _spend_day(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self._settings.spend_day_zone)).date()

    async def _plan(
        self,
        uow: NotifyUnitOfWork,
        book: TemplateBook,
        item: _Item,
        now: datetime,
        planned: Counter[tuple[str, str]],
        capped: set[tuple[str, date]],
    ) -> None:
        m, trigger, contact = item.message, item.trigger, item.contact
        if trigger is None:
            self._suppress(uow, item, "UNKNOWN_TRIGGER")
            return
        if isinstance(contact, RecipientNotFound):
            self._suppress(uow, item, "RECIPIENT_NOT_FOUND")
            return
        if isinstance(contact, ContactsUnavailable) or contact is None:
            self._retry_or_fail(uow, item, now, "CONTACTS_UNAVAILABLE: members did not answer")
            return
        fields = event_context(decode_event(item.event_type, item.payload))
        usage = Usage()
        if trigger.is_marketing:
            # Counted under the per-recipient lock _claim took (held to commit), plus what this
            # batch already plans: two replicas (or two rows of one batch) cannot both take the
            # last slot.
            sent_day, sent_week = await uow.messages.marketing_sent(m.recipient, now)
            extra = planned[(uow.tenant, m.recipient)]
            usage = Usage(sent_day + extra, sent_week + extra)
        cap = self._settings.spend_cap_for(uow.tenant)
        day = self._spend_day(now)
        exhausted = cap is not None and await uow.spend.exhausted(day, cap)
        if exhausted:
            assert cap is not None
            await self._cap_reached(uow, day, cap, capped)  # spent exactly to the cap: say so (once a day)
        appointment_start = fields.get("start_time") if trigger.timing == REMINDER else None
        while True:
            decision = decide(
                trigger,
                contact.reach(),
                now=now,
                rules=self._settings.rules,
                usage=usage,
                spend_exhausted=exhausted,
                appointment_start=appointment_start,
            )
            if decision.outcome == SUPPRESS:
                self._suppress(uow, item, decision.reason, decision)
                return
            if decision.outcome == DEFER:
                assert decision.not_before is not None
                m.mark_deferred(decision.not_before.astimezone(UTC), decision.describe())
                metrics.decisions.add(1, {"outcome": STATE_DEFERRED, "reason": decision.reason})
                return
            channel, providers = self._route(uow.tenant, decision)
            if not providers:
                self._suppress(uow, item, "NO_PROVIDER", decision)
                return
            rendered = book.render(
                trigger.key,
                channel,
                contact.locale,
                event=fields,
                member={"display_name": contact.display_name},
                tz=fields.get("time_zone") or contact.time_zone,
            )
            if channel in PAID_CHANNELS and cap is not None:
                units = sms_segments(rendered.body)
                cost = units * self._registry.price_per_unit_minor(providers[0].name)
                if not await uow.spend.reserve(day, cost, units, cap):
                    await self._cap_reached(uow, day, cap, capped)
                    exhausted = True
                    continue  # the plan assumed budget that is gone: decide again
                item.reservation = (day, cost, units)
            break
        address = contact.addresses[channel]
        m.channel, m.locale, m.body = channel, rendered.locale, rendered.body
        m.decision = (
            decision.describe()
            if channel == decision.channel
            else f"send on {channel}: NO_PROVIDER_ON_{decision.channel.upper()}"
        )
        m.address_hash = self._address_hash(uow.tenant, channel, address)
        m.address_masked = mask_address(channel, address)
        if trigger.is_marketing:
            planned[(uow.tenant, m.recipient)] += 1
        item.providers = providers
        item.outgoing = self._outgoing(
            uow.tenant, m, address, rendered.template_code, rendered.subject, rendered.body
        )

    @staticmethod
    def _outgoing(
        tenant: str, m: Message, address: str, template_code: str | None, subject: str | None, text: str
    ) -> OutgoingMessage:
        return OutgoingMessage(
            message_id=m.message_id,
            tenant=tenant,
            channel=provider_channel(m.channel),
            address=address,
            locale=m.locale,
            text=text,
            subject=subject or None,
            html=f"<p>{escape(text)}</p>" if m.channel == CHANNEL_EMAIL else None,
            template_code=template_code,
            params={"content": text},
        )

    def _route(self, tenant: str, decision: Decision) -> tuple[str, list[Provider]]:
        """The first of the decided channel and its fallbacks that has a provider configured."""
        for channel in (decision.channel, *decision.fallbacks):
            providers = self._registry.for_channel(tenant, provider_channel(channel))
            if providers:
                return channel, providers
        return decision.channel, []

    def _address_hash(self, tenant: str, channel: str, address: str) -> str:
        """A keyed hash (per-tenant key derived from the PII master key): equal addresses compare
        equal, nobody without the key can test a guess."""
        return self._cipher.blind_index(tenant, "notify-address", f"{channel}:{address}").hex()

    def _suppress(
        self, uow: NotifyUnitOfWork, item: _Item, reason: str, decision: Decision | None = None
    ) -> None:
        item.message.mark_suppressed((decision or Decision(SUPPRESS, reason)).describe())
        metrics.decisions.add(1, {"outcome": STATE_SUPPRESSED, "reason": reason})

    async def _cap_reached(
        self, uow: NotifyUnitOfWork, day: date, cap: int, capped: set[tuple[str, date]]
    ) -> None:
        """Marks the day's cap reached and emits SpendCapReached, the first time of the day. A
        batch asks the database once per (tenant, day): in an SMS flood every later message of
        the batch hits the cap too, and its two statements each were a round trip per message."""
        if (uow.tenant, day) in capped:
            return
        capped.add((uow.tenant, day))
        if await uow.spend.mark_cap_reached(day):
            spent, _ = await uow.spend.spent(day)
            uow.emit(
                events_pb2.SpendCapReached(
                    day=day.isoformat(),
                    cap_minor=cap,
                    spent_minor=spent,
                    currency_code=self._settings.spend_currency,
                ),
                aggregate_type="spend_cap",
                aggregate_id=f"{uow.tenant}/{day.isoformat()}",
            )
            metrics.spend_cap_reached.add(1, {"tenant": uow.tenant})
            log.warning("notify.spend_cap_reached", tenant=uow.tenant, day=day.isoformat(), cap_minor=cap)

    # --- sending ------------------------------------------------------------------------------
    async def _send(self, item: _Item) -> None:
        assert item.outgoing is not None
        if item.in_doubt_since is not None and not await self._look_up(item):
            return
        for provider in item.providers:
            started = time.perf_counter()
            attrs = {"channel": item.message.channel, "provider": provider.name}
            try:
                item.result = await asyncio.wait_for(
                    provider.send(item.outgoing), timeout=self._settings.send_timeout_s
                )
            except ProviderError as exc:
                item.errors.append(exc)
            except Exception as exc:  # timeouts, connection errors: worth another try
                item.errors.append(
                    ProviderError(
                        type(exc).__name__,
                        retryable=True,
                        provider=provider.name,
                        maybe_sent=isinstance(exc, TimeoutError),
                    )
                )
            else:
                metrics.sends.add(1, attrs)
                metrics.send_latency.record((time.perf_counter() - started) * 1000, attrs)
                return
            metrics.send_failures.add(1, attrs)
            if item.errors[-1].maybe_sent and can_reconcile(provider):
                # No answer is not a refusal: failing over or retrying now could send it twice.
                # It stays claimed (in doubt) and is reconciled like a claim a kill left behind.
                item.unanswered = item.errors[-1]
                log.warning(
                    "notify.provider_no_answer",
                    message=item.message.name,
                    provider=provider.name,
                    error=item.unanswered.reason,
                )
                return
            log.warning(
                "notify.provider_failed",
                message=item.message.name,
                provider=provider.name,
                error=item.errors[-1].reason,
                retryable=item.errors[-1].retryable,
            )

    async def _look_up(self, item: _Item) -> bool:
        """Asks the in-doubt claim's providers whether they took it; True when it is to be sent."""
        assert item.outgoing is not None and item.in_doubt_since is not None
        for provider in item.providers:
            if not isinstance(provider, Reconcilable):
                continue  # it drops a repeated id: sending again is the question
            try:
                found = await asyncio.wait_for(
                    provider.lookup(item.outgoing, item.in_doubt_since), timeout=self._settings.send_timeout_s
                )
            except ProviderError as exc:
                item.unanswered = exc
            except Exception as exc:  # timeouts, connection errors
                item.unanswered = ProviderError(type(exc).__name__, retryable=True, provider=provider.name)
            if item.unanswered is not None:
                log.warning(
                    "notify.in_doubt_lookup_failed",
                    message=item.message.name,
                    provider=provider.name,
                    error=item.unanswered.reason,
                )
                return False
            if found is not None:
                item.found, item.result = found, found.sent
                metrics.in_doubt.add(1, {"provider": provider.name, "outcome": "found"})
                log.info("notify.in_doubt_found", message=item.message.name, provider=provider.name)
                return False
        metrics.in_doubt.add(1, {"provider": item.providers[0].name, "outcome": "resent"})
        log.info("notify.in_doubt_resent", message=item.message.name)
        return True

    async def _record(self, uow: NotifyUnitOfWork, item: _Item, now: datetime) -> None:
        m = item.message
        if item.unanswered is not None:
            error = item.unanswered
            reason = f"IN_DOUBT: {error.provider} did not answer ({error.reason}); asked before any re-send"
            self._hold_or_fail(uow, item, now, reason)
            return
        if item.result is not None:
            result = item.result
            m.mark_sent(
                now,
                channel=m.channel,
                provider=result.provider,
                provider_message_id=result.provider_message_id,
            )
            m.billable_units = result.billable_units
            m.cost_minor = result.billable_units * self._registry.price_per_unit_minor(result.provider)
            if m.cost_minor:
                metrics.spend.add(m.cost_minor, {"tenant": uow.tenant})
            uow.emit(
                events_pb2.MessageSent(
                    message=m.name,
                    recipient=m.recipient,
                    channel=channel_to_proto(m.channel),  # type: ignore[arg-type]
                    trigger=m.trigger,
                    trigger_event_id=m.trigger_event_id,
                    provider=result.provider,
                    billable_units=result.billable_units,
                ),
                aggregate_type="message",
                aggregate_id=m.message_id,
            )
            found = item.found
            if found is not None and found.status is not None:  # the provider already knew its fate
                apply_receipt(uow, m, found.status, found.reason, found.occurred_at or now)
            return
        if item.reservation is not None:
            await uow.spend.release(*item.reservation)
        retryable = any(e.retryable for e in item.errors)
        reason = "; ".join(f"{e.provider}: {e.reason}" for e in item.errors) or "no provider answered"
        if retryable:
            self._retry_or_fail(uow, item, now, reason)
        else:
            self._fail(uow, item, reason)

    def _retry_or_fail(self, uow: NotifyUnitOfWork, item: _Item, now: datetime, reason: str) -> None:
        m = item.message
        backoff = self._settings.retry_backoff_s
        done = m.attempts if m.state == STATE_SENDING else m.attempts + 1  # a claim counted its own
        if done < self._settings.max_attempts:
            m.retry_later(now + timedelta(seconds=backoff[min(done - 1, len(backoff) - 1)]), reason)
        else:
            self._fail(uow, item, reason)

    def _fail(self, uow: NotifyUnitOfWork, item: _Item, reason: str) -> None:
        m = item.message
        m.mark_failed(reason)
        uow.emit(
            events_pb2.MessageFailed(
                message=m.name,
                recipient=m.recipient,
                channel=channel_to_proto(m.channel),  # type: ignore[arg-type]
                trigger=m.trigger,
                error=m.last_error,
            ),
            aggregate_type="message",
            aggregate_id=m.message_id,
        )
        log.warning("notify.message_failed", message=m.name, trigger=m.trigger, error=m.last_error)


def contact_resolver(members, staff) -> ContactResolver:
    """Members for member triggers (one ResolveContacts for all of a batch's members of a tenant),
    the staff directory for staff ones."""

    async def resolve(tenant: str, wanted: dict[str, Trigger]) -> dict[str, Contact | RecipientNotFound]:
        out: dict[str, Contact | RecipientNotFound] = {}
        for recipient, trigger in wanted.items():
            if trigger.audience == AUDIENCE_STAFF:
                try:
                    out[recipient] = staff.resolve(tenant, recipient)
                except RecipientNotFound as exc:
                    out[recipient] = exc
        members_wanted = [r for r in wanted if r not in out]
        if members_wanted:
            out.update(await members.resolve_many(tenant, members_wanted))
        return out

    return resolve
