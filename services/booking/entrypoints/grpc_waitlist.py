"""BookingService RPCs of the waitlist: a mixin of BookingServicer (grpc_servicer.py), which
supplies `_mutate`, `_read` and `_tokens` (kit.servicer).

A member token acts only on the member's own entries; other callers act within their stores."""

from __future__ import annotations

from datetime import UTC, date, datetime

from peony.booking.v1 import appointments_pb2, availability_pb2, waitlist_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, NotFound, Violations
from kit.ids import parse_name
from kit.pagination import page_size
from kit.proto import ts
from services.booking.entrypoints.grpc_common import appointment_to_proto, member_id_of, store_id_of
from services.booking.service_layer import waitlist as wl
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

_STATE = {
    wl.WAITING: waitlist_pb2.WAITLIST_ENTRY_STATE_WAITING,
    wl.OFFERED: waitlist_pb2.WAITLIST_ENTRY_STATE_OFFERED,
    wl.BOOKED: waitlist_pb2.WAITLIST_ENTRY_STATE_BOOKED,
    wl.CANCELLED: waitlist_pb2.WAITLIST_ENTRY_STATE_CANCELLED,
    wl.EXPIRED: waitlist_pb2.WAITLIST_ENTRY_STATE_EXPIRED,
}
_STATE_BACK = {v: k for k, v in _STATE.items()}
_CHANNELS = frozenset(appointments_pb2.BookingChannel.values()) - {
    appointments_pb2.BOOKING_CHANNEL_UNSPECIFIED
}


def entry_id_of(name: str, field: str = "name") -> str:
    entry_id = parse_name(name, "waitlistEntries", uuid=True)
    if entry_id is None:
        raise InvalidArgument([(field, "must be waitlistEntries/{entry}")])
    return entry_id


def offer_to_proto(offer) -> waitlist_pb2.WaitlistOffer:
    def instant(value: str):
        return ts(datetime.fromisoformat(value))

    return waitlist_pb2.WaitlistOffer(
        slot=availability_pb2.Slot(
            start_time=ts(offer.start_time),
            end_time=ts(offer.end_time),
            local_start=offer.local_start,
            local_end=offer.local_end,
            time_zone=offer.time_zone,
            staff=offer.slot[0]["staff"],
            assignments=[
                availability_pb2.SlotAssignment(
                    service=f"services/{a['service']}",
                    staff=a["staff"],
                    room=a["room"],
                    equipment=a["equipment"],
                    start_time=instant(a["start"]),
                    end_time=instant(a["end"]),
                    reserved_start_time=instant(a["reserved_start"]),
                    reserved_end_time=instant(a["reserved_end"]),
                )
                for a in offer.slot
            ],
        ),
        offer_time=ts(offer.offer_time),
        expire_time=ts(offer.expire_time),
    )


def entry_to_proto(entry: dict, offer=None) -> waitlist_pb2.WaitlistEntry:
    return waitlist_pb2.WaitlistEntry(
        name=f"waitlistEntries/{entry['entry_id']}",
        member=f"members/{entry['member_id']}",
        store=f"stores/{entry['store_id']}",
        service=f"services/{entry['service_id']}",
        date=entry["wanted_date"].isoformat(),
        staff=entry["staff"] or "",
        earliest_start_time=entry["earliest_start"] or "",
        latest_start_time=entry["latest_start"] or "",
        channel=entry["channel"],
        state=_STATE.get(entry["state"], waitlist_pb2.WAITLIST_ENTRY_STATE_UNSPECIFIED),
        offer=offer_to_proto(offer) if offer is not None and entry["state"] == wl.OFFERED else None,
        offers_made=entry["offers_made"],
        appointment=f"appointments/{entry['appointment_id']}" if entry["appointment_id"] else "",
        create_time=ts(entry["create_time"]),
        update_time=ts(entry["update_time"]),
    )


def _authorize(entry, *, change: bool) -> None:
    """A member only their own entries; staff their stores' (and front-desk work to change one)."""
    caller = current_principal()
    if caller.is_member_self_service:
        caller.require_member(f"members/{entry.member_id}")
        return
    caller.require_store(f"stores/{entry.store_id}")
    if change:
        caller.require(auth.BOOKING_STAFF)


async def _with_offer(uow: BookingUnitOfWork, entry: dict) -> waitlist_pb2.WaitlistEntry:
    offer = await uow.waitlist.open_offer(entry["entry_id"]) if entry["state"] == wl.OFFERED else None
    return entry_to_proto(entry, offer)


class WaitlistRpcs:
    async def JoinWaitlist(self, request: pb.JoinWaitlistRequest, context) -> pb.JoinWaitlistResponse:
        caller = current_principal()
        w = request.waitlist_entry
        v = Violations()
        member = w.member
        if caller.is_member_self_service:
            member = caller.subject
        member_id = parse_name(member, "members") if member else None
        if not member_id:
            v.add("waitlist_entry.member", "must be members/{member}")
        store_id = parse_name(w.store, "stores") if w.store else None
        if not store_id:
            v.add("waitlist_entry.store", "must be stores/{store}")
        service_id = parse_name(w.service, "services") if w.service else None
        if not service_id:
            v.add("waitlist_entry.service", "must be services/{service}")
        wanted: date | None = None
        try:
            wanted = date.fromisoformat(w.date) if len(w.date) == 10 else None
        except ValueError:
            wanted = None
        if wanted is None:
            v.add("waitlist_entry.date", "must be a date YYYY-MM-DD")
        staff = w.staff or None
        if staff is not None and store_id:
            prefix = f"stores/{store_id}/staff/"
            rest = staff[len(prefix) :] if staff.startswith(prefix) else ""
            if not rest or "/" in rest:
                v.add("waitlist_entry.staff", f"must be {prefix}{{staff}}")
        times = {}
        for field in ("earliest_start_time", "latest_start_time"):
            try:
                times[field] = wl.parse_wall_time(getattr(w, field), f"waitlist_entry.{field}")
            except InvalidArgument as err:
                v.add(*err.violations[0])
                times[field] = None
        if w.channel not in _CHANNELS:
            v.add("waitlist_entry.channel", "is required")
        v.raise_if_any()
        earliest, latest = times["earliest_start_time"], times["latest_start_time"]
        if earliest and latest and latest < earliest:
            raise InvalidArgument(
                [("waitlist_entry.latest_start_time", "must not be before earliest_start_time")],
                reason="END_BEFORE_START",
            )
        if caller.is_member_self_service:
            if w.channel not in wl.SELF_SERVICE:
                raise InvalidArgument(
                    [("waitlist_entry.channel", "a member joins online or in the mini program")]
                )
        else:
            caller.require_store(f"stores/{store_id}")
            caller.require(auth.BOOKING_STAFF)

        async def effect(uow: BookingUnitOfWork) -> pb.JoinWaitlistResponse:
            row, offer = await wl.join(
                uow,
                member=member_id,
                store=store_id,
                service=service_id,
                wanted_date=wanted,
                staff=staff,
                earliest_start=earliest,
                latest_start=latest,
                channel=w.channel,
                now=datetime.now(UTC),
            )
            return pb.JoinWaitlistResponse(waitlist_entry=entry_to_proto(row, offer))

        return await self._mutate("JoinWaitlist", request, pb.JoinWaitlistResponse, effect)

    async def GetWaitlistEntry(
        self, request: pb.GetWaitlistEntryRequest, context
    ) -> pb.GetWaitlistEntryResponse:
        entry_id = entry_id_of(request.name)

        async def read(uow: BookingUnitOfWork) -> pb.GetWaitlistEntryResponse:
            entry = await uow.waitlist.entry(entry_id)
            if entry is None:
                raise NotFound(f"{request.name} not found", reason="WAITLIST_ENTRY_NOT_FOUND")
            _authorize(entry, change=False)
            return pb.GetWaitlistEntryResponse(waitlist_entry=await _with_offer(uow, entry._asdict()))

        return await self._read(read)

    async def ListWaitlistEntries(
        self, request: pb.ListWaitlistEntriesRequest, context
    ) -> pb.ListWaitlistEntriesResponse:
        caller = current_principal()
        size = page_size(request.page_size)
        member_id = member_id_of(request.member) if request.member else None
        if caller.is_member_self_service:
            member_id = member_id_of(caller.subject)
        stores: list[str] | None = None
        if request.store:
            store_id = store_id_of(request.store)
            caller.require_store(f"stores/{store_id}")
            stores = [store_id]
        elif caller.stores is not None and not caller.is_member_self_service:
            stores = sorted(parse_name(s, "stores") or "" for s in caller.stores)
        wanted = None
        if request.date:
            try:
                wanted = date.fromisoformat(request.date) if len(request.date) == 10 else None
            except ValueError:
                wanted = None
            if wanted is None:
                raise InvalidArgument([("date", "must be a date YYYY-MM-DD")])
        states = set()
        for s in request.states:
            if s not in _STATE_BACK:
                raise InvalidArgument([("states", "unknown waitlist entry state")])
            states.add(_STATE_BACK[s])
        states = sorted(states or {wl.WAITING, wl.OFFERED})
        binding = f"{caller.tenant}|waitlist|{member_id}|{stores}|{wanted}|{states}"
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        after = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor.get("id") else None

        async def read(uow: BookingUnitOfWork) -> pb.ListWaitlistEntriesResponse:
            rows = await uow.waitlist.list_entries(
                limit=size + 1,
                after=after,
                stores=stores,
                wanted_date=wanted,
                member_id=member_id,
                states=states,
            )
            page, more = rows[:size], len(rows) > size
            offers = await uow.waitlist.open_offers([r.entry_id for r in page if r.state == wl.OFFERED])
            token = ""
            if more:
                last = page[-1]
                token = self._tokens.encode(
                    {"t": last.create_time.isoformat(), "id": last.entry_id}, binding=binding
                )
            return pb.ListWaitlistEntriesResponse(
                waitlist_entries=[entry_to_proto(r._asdict(), offers.get(r.entry_id)) for r in page],
                next_page_token=token,
            )

        return await self._read(read)

    async def LeaveWaitlist(self, request: pb.LeaveWaitlistRequest, context) -> pb.LeaveWaitlistResponse:
        entry_id = entry_id_of(request.name)

        async def effect(uow: BookingUnitOfWork) -> pb.LeaveWaitlistResponse:
            entry = await wl.locked_entry(uow, entry_id)
            _authorize(entry, change=True)
            row = await wl.leave(uow, entry, datetime.now(UTC))
            return pb.LeaveWaitlistResponse(waitlist_entry=entry_to_proto(row))

        return await self._mutate("LeaveWaitlist", request, pb.LeaveWaitlistResponse, effect)

    async def AcceptWaitlistOffer(
        self, request: pb.AcceptWaitlistOfferRequest, context
    ) -> pb.AcceptWaitlistOfferResponse:
        entry_id = entry_id_of(request.name)
        wallet_hold = request.wallet_hold if request.HasField("wallet_hold") else None
        caller = current_principal()

        async def effect(uow: BookingUnitOfWork) -> pb.AcceptWaitlistOfferResponse:
            entry = await wl.locked_entry(uow, entry_id)
            _authorize(entry, change=True)
            row, appointment = await wl.accept(
                uow,
                entry,
                notes=request.notes,
                now=datetime.now(UTC),
                wallet_hold=wallet_hold,
                request_key=request.request_id,
                booked_by=caller.subject,
            )
            return pb.AcceptWaitlistOfferResponse(
                waitlist_entry=entry_to_proto(row), appointment=appointment_to_proto(appointment)
            )

        return await self._mutate("AcceptWaitlistOffer", request, pb.AcceptWaitlistOfferResponse, effect)

    async def DeclineWaitlistOffer(
        self, request: pb.DeclineWaitlistOfferRequest, context
    ) -> pb.DeclineWaitlistOfferResponse:
        entry_id = entry_id_of(request.name)

        async def effect(uow: BookingUnitOfWork) -> pb.DeclineWaitlistOfferResponse:
            entry = await wl.locked_entry(uow, entry_id)
            _authorize(entry, change=True)
            row = await wl.decline(uow, entry, datetime.now(UTC))
            return pb.DeclineWaitlistOfferResponse(waitlist_entry=entry_to_proto(row))

        return await self._mutate("DeclineWaitlistOffer", request, pb.DeclineWaitlistOfferResponse, effect)
