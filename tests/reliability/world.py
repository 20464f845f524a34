"""A tenant with real data in every service, for the checks that need references to resolve:
two stores, four members (three with a payment PIN, the first with stored value), a booking
service, a staff member, and one of most other resources (card, checkout, package, appointment,
room, equipment, hold, voucher, reward, complaint, waitlist entry...). Built over the public gRPC
API as a salon would, then left to settle (every outbox row published, every consumer idle) so a
later change is the request's.

`plausible(rpc, world)` fills any request from its descriptor with this tenant's names: every
required field annotated `google.api.resource_reference` (and any store or member filter), and
the `name` of every nested resource, gets the world's resource of that collection; `request_id`
a fresh uuid. OVERRIDES add what a descriptor cannot say (amounts, lines, tenders, dates).
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

import grpc
from google.api import field_behavior_pb2, resource_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from peony.booking.v1 import appointments_pb2, catalog_pb2, feedback_pb2, resources_pb2, waitlist_pb2
from peony.booking.v1 import booking_service_pb2 as bpb
from peony.members.v1 import imports_pb2, member_pb2, store_pb2
from peony.members.v1 import members_service_pb2 as mpb
from peony.wallet.v1 import checkout_pb2, ledger_pb2, packages_pb2, points_pb2, stored_value_pb2, vouchers_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb

from tests.reliability.contract import DATABASE_SERVICES, Rpc, metadata_for, patterns_for

PIN = "135790"
STORES_CSV = b"Store ID,Name\ns9,Store 9\n"  # the ImportService's world upload (stores_en)
PHONES = ("13500000001", "13500000002", "13500000003", "13500000004")
SHANGHAI = ZoneInfo("Asia/Shanghai")
RETIRING_TEMPLATE = "retiring"  # the world's template that DeactivateVoucherTemplate may retire


@dataclass
class World:
    tenant: str
    stores: tuple[str, str] = ("s1", "s2")
    member: str = ""
    other_member: str = ""
    pin_member: str = ""
    hold_member: str = ""
    """These two have a PIN too, for the SetPaymentPin and AuthorizeHold rows: their wrong PINs
    count towards *their* lockouts, so the Checkout row still meets the first member's PIN
    unlocked (each row stands on its own)."""
    card_number: str = ""
    service: str = ""
    staff: str = "st1"
    product: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    """collection ("stores", "appointments", ...) -> the id of the world's resource in it."""
    seed_failures: list[str] = field(default_factory=list)
    """Optional resources the world could not create (their rows then test less)."""

    def name_for(self, pattern: str) -> str:
        """`pattern` with the world's id in each `collection/{var}` (a fresh uuid when it has none)."""
        return re.sub(
            r"([A-Za-z]+)/\{[a-z_]+\}",
            lambda m: f"{m.group(1)}/{self.ids.get(m.group(1)) or uuid.uuid4()}",
            pattern,
        )

    def remember(self, name: str) -> None:
        """Records the id of the resource `name` (its last `collection/id` pair)."""
        parts = name.split("/")
        if len(parts) >= 2 and parts[-1]:
            self.ids.setdefault(parts[-2], parts[-1])

    @property
    def hq(self):
        return metadata_for("hq_admin", self.tenant)


def _rpc(platform, service: str, method: str, request: Message, metadata) -> Message:
    """A typed call through the platform's channel (raises grpc.RpcError)."""
    module = {"members": mpb, "wallet": wpb, "booking": bpb}[service]
    svc = next(s for s in module.DESCRIPTOR.services_by_name.values() if method in s.methods_by_name)
    response_cls = getattr(module, f"{method}Response")
    stub = platform.channels[service].unary_unary(
        f"/{svc.full_name}/{method}",
        request_serializer=type(request).SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    return stub(request, metadata=metadata, timeout=30)


def _retry(fn, what: str, timeout: float = 30.0):
    """`fn()` until it stops failing with NOT_FOUND (a projection not yet fed by the owner's event)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise AssertionError(f"seeding the world: {what}: {err.code().name} {err.details()}") from err
            time.sleep(0.2)


def seed_world(platform, prefix: str) -> World:
    world = World(tenant=f"{prefix}-{uuid.uuid4().hex[:8]}")
    hq = world.hq
    for sid in world.stores:
        _rpc(
            platform,
            "members",
            "CreateStore",
            mpb.CreateStoreRequest(
                store_id=sid,
                store=store_pb2.Store(display_name=f"Store {sid}", time_zone="Asia/Shanghai"),
                request_id=str(uuid.uuid4()),
            ),
            hq,
        )
    members = []
    for phone in PHONES:
        reply = _rpc(
            platform,
            "members",
            "RegisterMember",
            mpb.RegisterMemberRequest(
                member=member_pb2.Member(display_name="Fuzz", phone=phone, home_store="stores/s1"),
                request_id=str(uuid.uuid4()),
            ),
            hq,
        )
        members.append(reply.member.name.removeprefix("members/"))
    world.member, world.other_member, world.pin_member, world.hold_member = members
    m1 = f"members/{world.member}"
    for member in (world.member, world.pin_member, world.hold_member):
        _retry(
            lambda m=member: _rpc(
                platform,
                "wallet",
                "SetPaymentPin",
                wpb.SetPaymentPinRequest(member=f"members/{m}", pin=PIN, request_id=str(uuid.uuid4())),
                hq,
            ),
            "SetPaymentPin",
        )
    _retry(
        lambda: _rpc(
            platform,
            "wallet",
            "TopUp",
            wpb.TopUpRequest(
                member=m1,
                amount_minor=100_000,
                currency_code="CNY",
                tender=ledger_pb2.TENDER_WECHAT_PAY,
                store="stores/s1",
                request_id=str(uuid.uuid4()),
            ),
            hq,
        ),
        "TopUp",
    )
    product = _rpc(
        platform,
        "wallet",
        "CreatePackageProduct",
        wpb.CreatePackageProductRequest(
            package_product=packages_pb2.PackageProduct(
                display_name="Ten facials",
                price_minor=90_000,
                currency_code="CNY",
                items=[
                    packages_pb2.PackageItem(
                        service="services/facial", sessions=10, list_price_minor=10_000, validity_days=365
                    )
                ],
            ),
            request_id=str(uuid.uuid4()),
        ),
        hq,
    )
    world.product = product.package_product.name.rpartition("/")[2]
    world.service = "facial"
    _rpc(
        platform,
        "booking",
        "CreateService",
        bpb.CreateServiceRequest(
            service_id=world.service,
            service=catalog_pb2.Service(
                display_name="Facial",
                category="face",
                duration_minutes=60,
                list_price_minor=10_000,
                online_bookable=True,  # members book and join waitlists online
            ),
            request_id=str(uuid.uuid4()),
        ),
        hq,
    )
    _retry(
        lambda: _rpc(
            platform,
            "booking",
            "CreateStaff",
            bpb.CreateStaffRequest(
                parent="stores/s1",
                staff_id=world.staff,
                staff=resources_pb2.Staff(
                    display_name="Lin",
                    skills=["facial"],
                    online_bookable=True,
                    weekly_hours=[
                        resources_pb2.WeeklyInterval(day_of_week=d, start_time="09:00", end_time="21:00")
                        for d in range(1, 8)
                    ],
                ),
                request_id=str(uuid.uuid4()),
            ),
            hq,
        ),
        "CreateStaff",
    )
    world.ids = {
        "stores": "s1",
        "members": world.member,
        "staff": world.staff,
        "services": world.service,
        "packageProducts": world.product,
    }
    seed_more(platform, world)
    _seed_fired_follow_up(platform, world)
    settle(platform, world)
    return world


def _seed_fired_follow_up(platform, world: World) -> None:
    """A service-plan follow-up the scheduler has fired (due after a completed visit, which the
    world cannot wait for), written directly, so ResolveFollowUp reaches its store check."""
    plan, appointment = world.ids.get("servicePlans"), world.ids.get("appointments")
    if not plan or not appointment:
        world.seed_failures.append("follow-up: no service plan or appointment to hang it on")
        return
    follow_up = uuid.uuid4()
    platform.dbs.scalar(
        "booking",
        "INSERT INTO follow_ups (tenant_id, follow_up_id, plan_id, member_id, store_id, appointment_id,"
        " follow_up_service_id, due_date, remind_utc, time_zone, complete_time, state, resolve_time)"
        " VALUES ($1, $2, $3, $4, 's1', $5, $6, current_date, now(), 'Asia/Shanghai', now(), 'fired', now())"
        " RETURNING follow_up_id",
        world.tenant,
        follow_up,
        plan,
        world.member,
        uuid.UUID(appointment),
        world.service,
    )
    world.remember(f"followUps/{follow_up}")


def _first_enum(message_cls, field_name: str) -> int:
    """The first specified value of an enum field (whatever its name)."""
    return message_cls.DESCRIPTOR.fields_by_name[field_name].enum_type.values[1].number


def seed_more(platform, world: World) -> None:
    """One of each other resource, so the matrix rows about them reach authorization. A failure
    is recorded, not raised: the row then only tests less (and the summary says so)."""
    hq, m1, s1 = world.hq, f"members/{world.member}", "stores/s1"
    mutations = valid_mutations(world)
    seeds: list[tuple[str, str, Callable[[], Message]]] = [
        ("members", "IssueCard", lambda: mpb.IssueCardRequest(parent=m1, request_id=_rid())),
        ("wallet", "TopUp", mutations["wallet.TopUp"]),
        ("wallet", "Checkout", mutations["wallet.Checkout"]),
        ("wallet", "SellPackage", mutations["wallet.SellPackage"]),
        ("booking", "BookAppointment", mutations["booking.BookAppointment"]),
        (
            "booking",
            "CreateRoom",
            lambda: bpb.CreateRoomRequest(
                parent=s1,
                room_id="r1",
                room=resources_pb2.Room(display_name="Room 1", room_type="facial", capacity=1),
                request_id=_rid(),
            ),
        ),
        (
            "booking",
            "CreateEquipment",
            lambda: bpb.CreateEquipmentRequest(
                parent=s1,
                equipment_id="e1",
                equipment=resources_pb2.Equipment(display_name="Steamer", kind="steamer"),
                request_id=_rid(),
            ),
        ),
        (
            "booking",
            "CreateServicePlan",
            lambda: bpb.CreateServicePlanRequest(
                service_plan=appointments_pb2.ServicePlan(
                    display_name="Monthly facial",
                    trigger_service=f"services/{world.service}",
                    follow_up_service=f"services/{world.service}",
                    follow_up_after_days=30,
                ),
                request_id=_rid(),
            ),
        ),
        (
            "wallet",
            "CreateTopUpPlan",
            lambda: wpb.CreateTopUpPlanRequest(
                top_up_plan=stored_value_pb2.TopUpPlan(
                    display_name="Pay 1000 get 100",
                    pay_minor=100_000,
                    bonus_minor=10_000,
                    currency_code="CNY",
                ),
                request_id=_rid(),
            ),
        ),
        (
            "wallet",
            "CreateReward",
            lambda: wpb.CreateRewardRequest(
                reward=points_pb2.Reward(
                    display_name="Mask",
                    points_cost=10,
                    stock=100,
                    kind=points_pb2.REWARD_KIND_SERVICE,
                    item=f"services/{world.service}",
                ),
                request_id=_rid(),
            ),
        ),
        (
            "wallet",
            "CreateVoucherTemplate",
            lambda: wpb.CreateVoucherTemplateRequest(
                voucher_template=vouchers_pb2.VoucherTemplate(
                    display_name="10 off",
                    kind=_first_enum(vouchers_pb2.VoucherTemplate, "kind"),
                    amount_off_minor=1_000,
                    valid_days=30,
                    currency_code="CNY",
                ),
                request_id=_rid(),
            ),
        ),
        (  # a second template, for DeactivateVoucherTemplate (the first stays issuable)
            "wallet",
            "CreateVoucherTemplate",
            lambda: wpb.CreateVoucherTemplateRequest(
                voucher_template=vouchers_pb2.VoucherTemplate(
                    display_name="5 off",
                    kind=_first_enum(vouchers_pb2.VoucherTemplate, "kind"),
                    amount_off_minor=500,
                    valid_days=30,
                    currency_code="CNY",
                ),
                voucher_template_id=RETIRING_TEMPLATE,
                request_id=_rid(),
            ),
        ),
        (
            "wallet",
            "IssueVoucher",
            lambda: wpb.IssueVoucherRequest(
                member=m1, template=world.name_for("voucherTemplates/{template}"), request_id=_rid()
            ),
        ),
        (
            "wallet",
            "AuthorizeHold",
            lambda: wpb.AuthorizeHoldRequest(
                hold=ledger_pb2.Hold(member=m1, amount_minor=100, currency_code="CNY", store=s1),
                payment_pin=PIN,
                request_id=_rid(),
            ),
        ),
        (
            "booking",
            "OpenComplaint",
            lambda: bpb.OpenComplaintRequest(
                complaint=feedback_pb2.Complaint(
                    member=m1,
                    store=s1,
                    appointment=world.name_for("appointments/{appointment}"),
                    category=_first_enum(feedback_pb2.Complaint, "category"),
                    description="The room was cold",
                ),
                request_id=_rid(),
            ),
        ),
        (
            "booking",
            "JoinWaitlist",
            lambda: bpb.JoinWaitlistRequest(
                waitlist_entry=waitlist_pb2.WaitlistEntry(
                    member=m1,
                    store=s1,
                    service=f"services/{world.service}",
                    date=(datetime.now(SHANGHAI).date() + timedelta(days=3)).isoformat(),
                    channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                ),
                request_id=_rid(),
            ),
        ),
        # An upload (complete) and an import operation (a dry run of one store) for the
        # ImportService's rows.
        (
            "members",
            "CreateImportUpload",
            lambda: mpb.CreateImportUploadRequest(
                upload=imports_pb2.ImportUpload(file_name="stores.csv", size_bytes=len(STORES_CSV)),
                request_id=_rid(),
            ),
        ),
        (
            "members",
            "AppendImportChunk",
            lambda: mpb.AppendImportChunkRequest(
                upload=world.name_for("importUploads/{upload}"), offset=0, data=STORES_CSV
            ),
        ),
        (
            "members",
            "StartImport",
            lambda: mpb.StartImportRequest(
                kind=imports_pb2.IMPORT_KIND_STORES,
                upload=world.name_for("importUploads/{upload}"),
                mapping="stores_en",
                dry_run=True,
                request_id=_rid(),
            ),
        ),
    ]
    for service, method, build in seeds:
        try:
            reply = _rpc(platform, service, method, build(), hq)
        except grpc.RpcError as err:
            world.seed_failures.append(f"{method}: {err.code().name} {err.details()}")
            continue
        # The created resource is the response's first message with a name (not the wallet).
        for fd, value in reply.ListFields():
            if fd.name != "wallet" and fd.message_type is not None and getattr(value, "name", ""):
                world.remember(value.name)
                world.card_number = world.card_number or getattr(value, "card_number", "")
                break


def settle(platform, world: World, quiet: float = 0.6, timeout: float = 60.0) -> None:
    """Waits until every outbox row of the tenant is published and no consumer wrote anything
    (inbox rows, the tenant's rows) for `quiet` seconds."""

    def state():
        return tuple(
            (
                platform.dbs.scalar(
                    s,
                    "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND published_at IS NULL",
                    world.tenant,
                ),
                platform.dbs.scalar(s, "SELECT count(*) FROM inbox"),
                tuple(sorted(platform.dbs.fingerprint(s, world.tenant).items())),
            )
            for s in DATABASE_SERVICES
        )

    deadline = time.monotonic() + timeout
    backlog_deadline = time.monotonic() + timeout / 2
    last = state()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = state()
        if now == last and all(unpublished == 0 for unpublished, _, _ in now):
            # A consumer still handling an event (slow on a loaded machine: longer than `quiet`)
            # would write after this returns; wait for the services' consumers to drain too.
            # Not forever: a backlog that is not the tenant's (a poison message in a backoff)
            # must not fail the caller, whose own rows have been quiet all along.
            if platform.dbs.consumer_backlog() == 0:
                return
            if time.monotonic() > backlog_deadline:
                # Each such wait costs the caller timeout/2: name the consumers so the cause (a
                # message in nak backoff, a leftover durable) can be found from the CI log.
                warnings.warn(
                    f"settle: consumers still behind after {timeout / 2:.0f}s: "
                    f"{platform.dbs.consumer_backlogs()}",
                    stacklevel=2,
                )
                return
            continue
        last = now
    raise AssertionError(f"tenant {world.tenant} did not settle within {timeout}s")


# --- plausible requests --------------------------------------------------------------------------


def _resource_pattern(desc: Descriptor) -> str | None:
    options = desc.GetOptions()
    if options.HasExtension(resource_pb2.resource):
        patterns = options.Extensions[resource_pb2.resource].pattern
        return patterns[0] if patterns else None
    return None


def _required(fd: FieldDescriptor) -> bool:
    behaviors = fd.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.REQUIRED in behaviors or field_behavior_pb2.IDENTIFIER in behaviors


WORLD_FILTERS = ("stores/{store}", "members/{member}")
"""Optional references set all the same: a store or member filter is what scopes a read."""


def _is_own_message(fd: FieldDescriptor) -> bool:
    """A singular Peony message field (not a well-known type)."""
    return (
        fd.type == FieldDescriptor.TYPE_MESSAGE
        and not fd.is_repeated
        and not fd.message_type.full_name.startswith("google.")
    )


def _fill(msg: Message, world: World, depth: int) -> None:
    """Sets the required reference fields, resource names and request ids of `msg` (recursively)."""
    desc = msg.DESCRIPTOR
    own = _resource_pattern(desc)
    for fd in desc.fields:
        if fd.type == FieldDescriptor.TYPE_STRING:
            patterns = patterns_for(fd)
            if patterns and (_required(fd) or patterns[0] in WORLD_FILTERS):
                value = world.name_for(patterns[0])
            elif fd.name == "name" and own:
                value = world.name_for(own)
            elif fd.name == "request_id":
                value = str(uuid.uuid4())
            else:
                continue
            if fd.is_repeated:
                getattr(msg, fd.name).append(value)
            else:
                setattr(msg, fd.name, value)
        elif _required(fd) and _is_own_message(fd) and depth < 2:
            _fill(getattr(msg, fd.name), world, depth + 1)


def plausible(rpc: Rpc, world: World, *, by_member: bool = False) -> Message:
    """A request for `rpc` naming the world's resources (valid enough to reach authorization);
    `by_member` when a member's own token sends it (members book and join online)."""
    msg = rpc.request_class()
    _fill(msg, world, 0)
    for overrides in (OVERRIDES, MEMBER_OVERRIDES if by_member else {}):
        override = overrides.get(rpc.id)
        if override is not None:
            override(msg, world)
    return msg


def _checkout(msg: wpb.CheckoutRequest, world: World) -> None:
    # A stored-value checkout at s1 with a WRONG pin: example 1 of issue 9 when sent out of scope.
    msg.member = f"members/{world.member}"
    msg.lines.add(item="services/facial", category="care", quantity=1, list_price_minor=10_000)
    msg.stored_value_minor = 10_000
    msg.payment_pin = "000000"


def _top_up(msg: wpb.TopUpRequest, world: World) -> None:
    msg.amount_minor, msg.currency_code, msg.tender = 5_000, "CNY", ledger_pb2.TENDER_WECHAT_PAY


def _set_pin(msg: wpb.SetPaymentPinRequest, world: World) -> None:
    # A WRONG old PIN: a denied caller must be refused before the PIN is checked (or counted).
    msg.member, msg.pin, msg.old_pin = f"members/{world.pin_member}", "246810", "000000"


def _find_by_phone(msg: mpb.FindMemberByPhoneRequest, world: World) -> None:
    msg.phone = PHONES[0]


def _reschedule(msg: bpb.RescheduleAppointmentRequest, world: World) -> None:
    msg.start_time.CopyFrom(_next_free_slot())


def _register(msg: mpb.RegisterMemberRequest, world: World) -> None:
    msg.member.display_name, msg.member.phone = "New", f"135{uuid.uuid4().int % 10**8:08d}"


def _window(msg, world: World) -> None:
    """A reporting window: the last thirty days."""
    now = datetime.now(UTC)
    msg.start_time.FromDatetime(now - timedelta(days=30))
    msg.end_time.FromDatetime(now)


def _reason(msg, world: World) -> None:
    msg.reason = "matrix"


def _refund_stored_value(msg: wpb.RefundStoredValueRequest, world: World) -> None:
    msg.tender, msg.reason = ledger_pb2.TENDER_WECHAT_PAY, "matrix"


def _grant(msg: wpb.GrantPointsRequest, world: World) -> None:
    msg.points, msg.source, msg.reason = 10, points_pb2.LOT_SOURCE_ACTIVITY, "matrix"


def _adjust(msg: wpb.AdjustPointsRequest, world: World) -> None:
    msg.delta, msg.reason = -1, "matrix"


def _consume(msg: wpb.ConsumePackageSessionRequest, world: World) -> None:
    msg.service, msg.sessions = f"services/{world.service}", 1


def _refund_package(msg: wpb.RefundPackageRequest, world: World) -> None:
    msg.tender, msg.reason = ledger_pb2.TENDER_WECHAT_PAY, "matrix"


def _authorize_hold(msg: wpb.AuthorizeHoldRequest, world: World) -> None:
    # A WRONG pin, as for Checkout: an unauthorized caller must not reach the PIN check.
    msg.hold.member, msg.hold.store = f"members/{world.hold_member}", "stores/s1"
    msg.hold.amount_minor, msg.hold.currency_code, msg.payment_pin = 100, "CNY", "000000"


def _extend_hold(msg: wpb.ExtendHoldRequest, world: World) -> None:
    msg.expire_time.FromDatetime(datetime.now(UTC) + timedelta(days=1))


def _resolve_follow_up(msg: bpb.ResolveFollowUpRequest, world: World) -> None:
    msg.outcome = appointments_pb2.FOLLOW_UP_OUTCOME_REACHED


def _find_by_card(msg: mpb.FindMemberByCardNumberRequest, world: World) -> None:
    msg.card_number = world.card_number


def _join_waitlist(msg: bpb.JoinWaitlistRequest, world: World) -> None:
    entry = msg.waitlist_entry
    entry.member, entry.store, entry.service = (
        f"members/{world.member}",
        "stores/s1",
        f"services/{world.service}",
    )
    entry.date = (datetime.now(SHANGHAI).date() + timedelta(days=4)).isoformat()
    entry.channel = appointments_pb2.BOOKING_CHANNEL_STORE


def _online(msg: bpb.JoinWaitlistRequest, world: World) -> None:
    msg.waitlist_entry.channel = appointments_pb2.BOOKING_CHANNEL_ONLINE


def _update_reward(msg: wpb.UpdateRewardRequest, world: World) -> None:
    msg.reward.display_name = "Renamed"
    msg.update_mask.paths.append("display_name")


def _complaint_reply(msg, world: World) -> None:
    for field_name in ("message", "resolution"):
        if field_name in msg.DESCRIPTOR.fields_by_name:
            setattr(msg, field_name, "We are sorry")


def _template_name(msg, world: World) -> None:
    msg.name = "triggers/welcome/templates/sms-zh-CN"  # a built-in default every tenant has


def _template_parent(msg, world: World) -> None:
    msg.parent = "triggers/welcome"


def _membership(msg: wpb.GetMembershipRequest, world: World) -> None:
    msg.name = f"members/{world.member}/membership"


def _insights_metric(msg, world: World) -> None:
    # A per-store metric (not a tenant-wide one, which store-bound callers may not read) for the
    # world's store: a store manager of s1 reads it, a caller bound to another store may not.
    msg.metric = "new_members"
    msg.stores.append("stores/s1")


def _referral_settings(msg: mpb.UpdateReferralSettingsRequest, world: World) -> None:
    msg.referral_settings.threshold_minor = 60_000


def _start_import(msg: mpb.StartImportRequest, world: World) -> None:
    msg.kind, msg.mapping, msg.dry_run = imports_pb2.IMPORT_KIND_STORES, "stores_en", True


def _append_chunk(msg: mpb.AppendImportChunkRequest, world: World) -> None:
    msg.offset, msg.data = 0, STORES_CSV  # the chunk the world stored: a retry, accepted unchanged


def _apply_import_batch(msg: wpb.ApplyImportBatchRequest, world: World) -> None:
    msg.import_id, msg.reconcile = "matrix-import", True  # a read of an import with no rows


def _retiring_template(msg: wpb.DeactivateVoucherTemplateRequest, world: World) -> None:
    msg.name = f"voucherTemplates/{RETIRING_TEMPLATE}"  # never the world's issuable template


def _programme_settings(msg: mpb.UpdateProgrammeSettingsRequest, world: World) -> None:
    msg.programme_settings.anniversary_points = 100  # the default: the world's jobs unaffected


def _campaign_settings(msg: mpb.UpdateCampaignSettingsRequest, world: World) -> None:
    msg.campaign_settings.approval_threshold_minor = 50_000  # the default: later campaigns unaffected


OVERRIDES = {
    "wallet.DeactivateVoucherTemplate": _retiring_template,
    "members.StartImport": _start_import,
    "members.AppendImportChunk": _append_chunk,
    "wallet.ApplyImportBatch": _apply_import_batch,
    "members.UpdateCampaignSettings": _campaign_settings,
    "members.RejectCampaign": _reason,
    "insights.QueryMetric": _insights_metric,
    "insights.ExportMetric": _insights_metric,
    "notify.GetTemplate": _template_name,
    "wallet.GetMembership": _membership,
    "wallet.GetMembershipRenewalRate": _window,
    "members.UpdateReferralSettings": _referral_settings,
    "members.UpdateProgrammeSettings": _programme_settings,
    "notify.ListTemplates": _template_parent,
    "booking.RescheduleAppointment": _reschedule,
    "members.RegisterMember": _register,
    "wallet.GetCommissionReport": _window,
    "wallet.GetInterStoreClearing": _window,
    "wallet.ReverseTransaction": _reason,
    "wallet.RefundStoredValue": _refund_stored_value,
    "wallet.GrantPoints": _grant,
    "wallet.AdjustPoints": _adjust,
    "wallet.ConsumePackageSession": _consume,
    "wallet.RefundPackage": _refund_package,
    "wallet.AuthorizeHold": _authorize_hold,
    "wallet.ExtendHold": _extend_hold,
    "booking.ResolveFollowUp": _resolve_follow_up,
    "booking.RespondToComplaint": _complaint_reply,
    "booking.ResolveComplaint": _complaint_reply,
    "members.FindMemberByCardNumber": _find_by_card,
    "booking.JoinWaitlist": _join_waitlist,
    "wallet.UpdateReward": _update_reward,
    "wallet.Checkout": _checkout,
    "wallet.TopUp": _top_up,
    "wallet.SetPaymentPin": _set_pin,
    "members.FindMemberByPhone": _find_by_phone,
}
"""Requests the generic filler cannot make plausible on its own (amounts, lines, tenders)."""
MEMBER_OVERRIDES = {"booking.JoinWaitlist": _online}
"""What changes when a member sends the request themself."""


# --- valid key mutations (for the unknown-reference property) ------------------------------------


_slots = itertools.count()


def _next_free_slot() -> Timestamp:
    """10:00 on a day no earlier booking of this run took (days ahead, one per call)."""
    day = datetime.now(SHANGHAI).date() + timedelta(days=2 + next(_slots))
    out = Timestamp()
    out.FromDatetime(datetime.combine(day, dt_time(10), SHANGHAI).astimezone(UTC))
    return out


def _rid() -> str:
    return str(uuid.uuid4())


def valid_mutations(world: World) -> dict[str, Callable[[], Message]]:
    """rpc id -> a builder of a request the world accepts (fresh request id each time)."""
    m1, s1 = f"members/{world.member}", "stores/s1"
    return {
        "members.RegisterMember": lambda: mpb.RegisterMemberRequest(
            member=member_pb2.Member(
                display_name="Ref", phone=f"135{uuid.uuid4().int % 10**8:08d}", home_store=s1
            ),
            request_id=_rid(),
        ),
        # The hold member: the first member holds the world's card already (seed_more), and a
        # member has at most one live card.
        "members.IssueCard": lambda: mpb.IssueCardRequest(
            parent=f"members/{world.hold_member}", request_id=_rid()
        ),
        "wallet.TopUp": lambda: wpb.TopUpRequest(
            member=m1,
            amount_minor=1_000,
            currency_code="CNY",
            tender=ledger_pb2.TENDER_WECHAT_PAY,
            store=s1,
            request_id=_rid(),
        ),
        "wallet.Checkout": lambda: wpb.CheckoutRequest(
            member=m1,
            store=s1,
            lines=[
                checkout_pb2.CheckoutLine(
                    item="services/facial", category="care", quantity=1, list_price_minor=500
                )
            ],
            stored_value_minor=500,
            payment_pin=PIN,
            request_id=_rid(),
        ),
        "wallet.SellPackage": lambda: wpb.SellPackageRequest(
            member=m1,
            product=f"packageProducts/{world.product}",
            store=s1,
            tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_WECHAT_PAY, amount_minor=90_000)],
            request_id=_rid(),
        ),
        "wallet.CheckIn": lambda: wpb.CheckInRequest(member=m1, store=s1, request_id=_rid()),
        "booking.CreateStaff": lambda: bpb.CreateStaffRequest(
            parent=s1, staff=resources_pb2.Staff(display_name="New"), request_id=_rid()
        ),
        "booking.BookAppointment": lambda: bpb.BookAppointmentRequest(
            member=m1,
            store=s1,
            services=[f"services/{world.service}"],
            start_time=_next_free_slot(),
            preferred_staff=f"{s1}/staff/{world.staff}",
            channel=appointments_pb2.BOOKING_CHANNEL_STORE,
            staff_override=True,
            override_reason="contract test",
            request_id=_rid(),
        ),
    }
