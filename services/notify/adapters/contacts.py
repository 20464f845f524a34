"""Where a message's recipient is reached: members' ResolveContacts (members) or the staff directory
(store staff). Addresses live in memory only: for the batch they are resolved for, and for a few
seconds in :class:`MembersContacts`' cache.

Notify calls members as itself with the ``notifier`` role beside ``service`` (kit/service_auth.py,
kit/auth.py): members refuses ResolveContacts to anyone else and audits every member it returns.
A dispatch batch's members of one tenant are resolved in one call. Every call has a deadline;
UNAVAILABLE / DEADLINE_EXCEEDED are ``ContactsUnavailable`` (the dispatcher retries the messages
later), a member members does not have is ``RecipientNotFound`` (the message is suppressed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from peony.members.v1 import member_pb2
from peony.members.v1 import members_service_pb2 as mpb
from peony.members.v1 import members_service_pb2_grpc as mpb_grpc

from kit.cache import ReadCache
from kit.grpc_client import ClientChannelSettings, client_channel_options, client_target
from kit.ids import parse_name
from kit.logging import get_logger
from kit.service_auth import ServiceCredentialError, ServiceCredentials
from kit.telemetry import client_interceptors
from services.notify.domain.message import CHANNEL_APP_PUSH, CHANNEL_EMAIL, CHANNEL_SMS, CHANNEL_WECHAT
from services.notify.domain.policy import Reach

log = get_logger("peony.notify.contacts")

DEFAULT_DEADLINE_S = 2.0
RESOLVE_BATCH = 100  # members per ResolveContacts call (its limit)
NOTIFIER_ROLE = "notifier"

_CONSENT = {
    CHANNEL_SMS: ("marketing_sms", "transactional_sms_opt_out"),
    CHANNEL_EMAIL: ("marketing_email", "transactional_email_opt_out"),
    CHANNEL_WECHAT: ("marketing_wechat", "transactional_wechat_opt_out"),
    CHANNEL_APP_PUSH: ("marketing_app_push", "transactional_app_push_opt_out"),
}


class RecipientNotFound(Exception):
    """The member (or the store's staff contact) does not exist: nobody to send to."""


class ContactsUnavailable(Exception):
    """Members could not answer now; the message is tried again later."""


@dataclass(frozen=True)
class Contact:
    recipient: str
    display_name: str
    locale: str
    time_zone: str
    addresses: Mapping[str, str] = field(repr=False)  # channel -> address; never logged
    marketing_opt_in: frozenset[str] = frozenset()
    transactional_opt_out: frozenset[str] = frozenset()
    active: bool = True

    def reach(self) -> Reach:
        return Reach(
            channels=frozenset(c for c, a in self.addresses.items() if a),
            marketing_opt_in=self.marketing_opt_in,
            transactional_opt_out=self.transactional_opt_out,
            time_zone=self.time_zone,
            active=self.active,
        )


def contact_from_proto(r: mpb.ResolveContactResponse) -> Contact:
    addresses = {
        CHANNEL_SMS: r.phone,
        CHANNEL_EMAIL: r.email,
        CHANNEL_WECHAT: r.wechat_openid,
        CHANNEL_APP_PUSH: r.push_tokens[0] if r.push_tokens else "",
    }
    return Contact(
        recipient=r.member,
        display_name=r.display_name,
        locale=r.locale or "zh-CN",
        time_zone=r.time_zone or "Asia/Shanghai",
        addresses={c: a for c, a in addresses.items() if a},
        marketing_opt_in=frozenset(c for c, (m, _) in _CONSENT.items() if getattr(r.consent, m)),
        transactional_opt_out=frozenset(c for c, (_, o) in _CONSENT.items() if getattr(r.consent, o)),
        active=r.state == member_pb2.MEMBER_STATE_ACTIVE,
    )


class MembersContacts:
    """gRPC client of members' ResolveContacts, with a short-lived in-memory cache.

    The cache holds a member's contact for ``cache_ttl_s`` seconds (0 turns it off) so that a burst
    of messages to the same members costs one resolution, bounded to ``cache_entries``. It lives in
    this process's memory only — never written anywhere, never logged (``Contact`` does not show
    its addresses in a repr) — and is not invalidated by members' events: a consent or address
    change reaches notify within the TTL.
    """

    def __init__(
        self,
        target: str,
        credentials: ServiceCredentials,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        channel_settings: ClientChannelSettings | None = None,
        cache_ttl_s: float = 0.0,
        cache_entries: int = 10_000,
    ):
        self.target = target
        self._credentials = credentials
        self._deadline_s = deadline_s
        # Balanced over every replica of the service (kit/grpc_client.py).
        self._channel = grpc.aio.insecure_channel(
            client_target(target),
            options=client_channel_options(channel_settings),
            interceptors=client_interceptors(target),
        )
        self._stub = mpb_grpc.MembersServiceStub(self._channel)
        self._cache: ReadCache[tuple[str, str], Contact] | None = (
            ReadCache(max_entries=cache_entries, ttl_s=cache_ttl_s) if cache_ttl_s > 0 else None
        )

    async def close(self) -> None:
        await self._channel.close()

    def forget(self, tenant: str, member: str) -> None:
        """Drops a member's cached contact (an erased member's addresses must not outlive it here)."""
        if self._cache is not None:
            self._cache.invalidate((tenant, member))

    async def resolve(self, tenant: str, member: str) -> Contact:
        found = (await self.resolve_many(tenant, [member]))[member]
        if isinstance(found, RecipientNotFound):
            raise found
        return found

    async def resolve_many(self, tenant: str, members: list[str]) -> dict[str, Contact | RecipientNotFound]:
        """The contact of each of ``members`` (``members/{id}``) of one tenant, or RecipientNotFound:
        from the cache, the rest with one ResolveContacts per :data:`RESOLVE_BATCH`. Raises
        ContactsUnavailable when members cannot answer now."""
        out: dict[str, Contact | RecipientNotFound] = {}
        wanted: list[str] = []
        for member in dict.fromkeys(members):
            if parse_name(member, "members", uuid=True) != member.removeprefix("members/"):
                out[member] = RecipientNotFound(member)  # never a valid member: not worth a call
                continue
            cached = self._cache.get((tenant, member)) if self._cache is not None else None
            if cached is not None:
                out[member] = cached
            else:
                wanted.append(member)
        if not wanted:
            return out
        try:
            metadata = self._credentials.metadata(tenant)
        except ServiceCredentialError as exc:
            raise ContactsUnavailable(f"no service credential for tenant {tenant}") from exc
        for first in range(0, len(wanted), RESOLVE_BATCH):
            names = wanted[first : first + RESOLVE_BATCH]
            token = self._cache.token() if self._cache is not None else 0
            try:
                response = await self._stub.ResolveContacts(
                    mpb.ResolveContactsRequest(names=names), metadata=metadata, timeout=self._deadline_s
                )
            except grpc.aio.AioRpcError as exc:
                # UNAVAILABLE, DEADLINE_EXCEEDED, a misconfigured credential: may pass.
                raise ContactsUnavailable(f"ResolveContacts {exc.code().name}") from None
            for resolved in response.contacts:
                contact = contact_from_proto(resolved)
                out[contact.recipient] = contact
                if self._cache is not None:
                    self._cache.put((tenant, contact.recipient), contact, token)
            for name in names:
                out.setdefault(name, RecipientNotFound(name))  # listed in `missing`
        return out


class StaffDirectory:
    """Store staff contacts for staff-audience triggers (e.g. complaint escalation to the store
    manager), from ``PEONY_NOTIFY_STAFF_CONTACTS_FILE``: JSON ``{tenant: {"stores/{id}": {"email":
    ..., "sms": ..., "locale": ..., "time_zone": ...}}}``. A secret-like file, outside the database."""

    def __init__(self, entries: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None):
        self._entries = {t: dict(stores) for t, stores in (entries or {}).items()}

    @classmethod
    def from_file(cls, path: str | None) -> StaffDirectory:
        if not path:
            return cls()
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def resolve(self, tenant: str, store: str) -> Contact:
        entry = self._entries.get(tenant, {}).get(store)
        if not entry:
            raise RecipientNotFound(store)
        return Contact(
            recipient=store,
            display_name=entry.get("display_name", ""),
            locale=entry.get("locale", "zh-CN"),
            time_zone=entry.get("time_zone", "Asia/Shanghai"),
            addresses={c: entry[c] for c in (CHANNEL_EMAIL, CHANNEL_SMS, CHANNEL_WECHAT) if entry.get(c)},
        )
