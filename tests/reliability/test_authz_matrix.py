"""The authorization matrix: every RPC x every kind of caller -> allowed or denied.

The columns are each role of `kit.auth.ROLE_PERMISSIONS` (store-bound roles scoped to the store
the request names, `member` as the member the request names), then the callers that must get
nothing: a store-bound role scoped to another store, a member acting on another member, another
tenant's administrator, and no token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest
from peony.insights.v1 import insights_service_pb2 as ipb

from kit import auth
from kit.auth import mint_dev_token
from tests.reliability.contract import SERVICES, TALLY, Outcome, Rpc, all_rpcs, call, changed
from tests.reliability.world import World, plausible, seed_world, settle

ColumnMetadata = Callable[[object], tuple]


def _md(roles: list[str], *, stores: list[str] | None = None, subject: str = "user:matrix", tenant=None):
    def build(world) -> tuple:
        token = mint_dev_token(
            tenant=tenant or world.tenant,
            subject=subject if not callable(subject) else subject(world),
            roles=roles,
            stores=stores,
        )
        return (("authorization", f"Bearer {token}"),)

    return build


COLUMNS: dict[str, ColumnMetadata] = {
    "hq_admin": _md(["hq_admin"]),
    "finance": _md(["finance"]),
    "marketing": _md(["marketing"]),
    "store_manager": _md(["store_manager"], stores=["stores/s1"]),
    "front_desk": _md(["front_desk"], stores=["stores/s1"]),
    "beautician": _md(["beautician"], stores=["stores/s1"]),
    "consultant": _md(["consultant"], stores=["stores/s1"]),
    "member": _md(["member"], subject=lambda w: f"members/{w.member}"),
    "service": _md(["service"]),
    "notifier": _md(["notifier"]),
    "receipt_forwarder": _md(["receipt_forwarder"]),
    "importer": _md(["importer"]),
    "front_desk@other_store": _md(["front_desk"], stores=["stores/s2"]),
    "member@other_member": _md(["member"], subject=lambda w: f"members/{w.other_member}"),
    "other_tenant": _md(["hq_admin"], tenant="matrix-other-tenant"),
    "no_token": lambda world: (),
}


@dataclass(frozen=True)
class Rule:
    """Who may call one RPC.

    permission: what the caller's roles must grant (None: any authenticated caller of the tenant).
    store: the request acts for a store, so a store-bound role must be scoped to it.
    member: what a member's own token may do: "own" (only for their own record), "any" (a
        tenant-wide read, like the service menu, or a list the handler narrows to the caller's
        own records) or "no".
    hq: a tenant-wide change: roles bound to stores may not make it, whatever their permissions.
    """

    permission: str | None
    store: bool = False
    member: str = "no"
    hq: bool = False


R = Rule
ANY = None  # any authenticated caller

# fmt: off
MATRIX: dict[str, Rule] = {
    # members: stores
    "members.CreateStore":            R(auth.STORES_MANAGE),
    "members.GetStore":               R(auth.STORES_READ),
    "members.UpdateStore":            R(auth.STORES_MANAGE, store=True),
    "members.ListStores":             R(auth.STORES_READ),
    # members: members and cards
    "members.RegisterMember":         R(auth.MEMBERS_WRITE, store=True),
    "members.GetMember":              R(auth.MEMBERS_READ, member="own"),
    "members.UpdateMember":           R(auth.MEMBERS_WRITE, store=True),
    "members.ListMembers":            R(auth.MEMBERS_READ),
    "members.FindMemberByPhone":      R(auth.MEMBERS_READ, member="own"),
    "members.FindMemberByCardNumber": R(auth.MEMBERS_READ, member="own"),
    "members.IssueCard":              R(auth.MEMBERS_CARDS_MANAGE),
    "members.ListCards":              R(auth.MEMBERS_READ, member="own"),
    "members.ReportCardLost":         R(auth.MEMBERS_CARDS_MANAGE),
    "members.ReplaceCard":            R(auth.MEMBERS_CARDS_MANAGE),
    "members.FreezeCard":             R(auth.MEMBERS_CARDS_MANAGE),
    "members.UnfreezeCard":           R(auth.MEMBERS_CARDS_MANAGE),
    "members.AddLegacyCardNumber":    R(auth.MEMBERS_CARDS_MANAGE),
    "members.CloseCard":              R(auth.MEMBERS_CARDS_MANAGE),
    "members.EraseMember":            R(auth.MEMBERS_ERASE),
    # members: tiers
    "members.GetTierLadder":          R(auth.MEMBERS_READ, member="any"),
    "members.UpdateTierLadder":       R(auth.TIERS_MANAGE),
    "members.SetMemberTier":          R(auth.MEMBERS_TIER_OVERRIDE),
    "members.GetReferralSettings":    R(auth.MEMBERS_READ, member="any"),
    "members.UpdateReferralSettings": R(auth.TIERS_MANAGE),
    "members.GetProgrammeSettings":   R(auth.MEMBERS_READ, member="any"),
    "members.UpdateProgrammeSettings": R(auth.TIERS_MANAGE),
    "members.ResolveContact":         R(auth.MEMBERS_CONTACT_RESOLVE),
    "members.ResolveContacts":        R(auth.MEMBERS_CONTACT_RESOLVE),
    "members.ListTierChanges":        R(auth.MEMBERS_READ, member="own"),
    # members: segments
    "members.CreateSegment":          R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.GetSegment":             R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.ListSegments":           R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.CountSegment":           R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.ListSegmentMembers":     R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.CreateCampaign":         R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.GetCampaign":            R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.ListCampaigns":          R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.PauseCampaign":          R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.ResumeCampaign":         R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.CancelCampaign":         R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.GetCampaignResults":     R(auth.MEMBERS_SEGMENTS_MANAGE),
    # members: the ImportService (bulk import from a legacy system)
    "members.CreateImportUpload":     R(auth.MEMBERS_IMPORT),
    "members.AppendImportChunk":      R(auth.MEMBERS_IMPORT),
    "members.StartImport":            R(auth.MEMBERS_IMPORT),
    "members.GetOperation":           R(auth.MEMBERS_IMPORT),
    "members.ListOperations":         R(auth.MEMBERS_IMPORT),
    "members.CancelOperation":        R(auth.MEMBERS_IMPORT),
    "members.GetImportErrorReport":   R(auth.MEMBERS_IMPORT),
    "members.ApproveCampaign":        R(auth.MEMBERS_CAMPAIGNS_APPROVE),
    "members.RejectCampaign":         R(auth.MEMBERS_CAMPAIGNS_APPROVE),
    "members.GetCampaignSettings":    R(auth.MEMBERS_SEGMENTS_MANAGE),
    "members.UpdateCampaignSettings": R(auth.MEMBERS_CAMPAIGNS_APPROVE),
    "members.ListLapseRisks":         R(auth.MEMBERS_READ, store=True),
    # wallet: stored value
    "wallet.ApplyImportBatch":        R(auth.WALLET_IMPORT_APPLY),
    "wallet.GetWallet":               R(auth.WALLET_READ, member="own"),
    "wallet.ListTransactions":        R(auth.WALLET_READ, member="own"),
    "wallet.GetTransaction":          R(auth.WALLET_READ, member="own"),
    "wallet.ReverseTransaction":      R(auth.WALLET_ADJUST),
    "wallet.GetWalletSettings":       R(auth.WALLET_READ, member="any"),
    "wallet.UpdateWalletSettings":    R(auth.WALLET_ADMIN),
    "wallet.SetPaymentPin":           R(auth.WALLET_WRITE),
    "wallet.CreateTopUpPlan":         R(auth.WALLET_ADMIN),
    "wallet.ListTopUpPlans":          R(auth.WALLET_READ, member="any"),
    "wallet.UpdateTopUpPlan":         R(auth.WALLET_ADMIN),
    "wallet.TopUp":                   R(auth.WALLET_WRITE, store=True),
    "wallet.RefundStoredValue":       R(auth.WALLET_WRITE, store=True),
    # wallet: points and rewards
    "wallet.GetPointsPolicy":         R(auth.WALLET_READ, member="any"),
    "wallet.UpdatePointsPolicy":      R(auth.WALLET_ADMIN),
    "wallet.ListPointLots":           R(auth.WALLET_READ, member="own"),
    "wallet.AdjustPoints":            R(auth.WALLET_ADJUST),
    "wallet.GrantPoints":             R(auth.WALLET_WRITE),
    "wallet.CheckIn":                 R(auth.WALLET_WRITE, store=True),
    "wallet.CreateReward":            R(auth.WALLET_ADMIN),
    "wallet.ListRewards":             R(auth.WALLET_READ, member="any"),
    "wallet.UpdateReward":            R(auth.WALLET_ADMIN),
    "wallet.RedeemReward":            R(auth.WALLET_WRITE, store=True),
    # wallet: packages
    "wallet.CreatePackageProduct":    R(auth.WALLET_ADMIN),
    "wallet.ListPackageProducts":     R(auth.WALLET_READ, member="any"),
    "wallet.UpdatePackageProduct":    R(auth.WALLET_ADMIN),
    "wallet.SellPackage":             R(auth.WALLET_WRITE, store=True),
    "wallet.ListMemberPackages":      R(auth.WALLET_READ, member="own"),
    "wallet.ConsumePackageSession":   R(auth.WALLET_WRITE, store=True),
    "wallet.FreezePackage":           R(auth.WALLET_WRITE),
    "wallet.UnfreezePackage":         R(auth.WALLET_WRITE),
    "wallet.ExtendPackage":           R(auth.WALLET_WRITE),
    "wallet.TransferPackage":         R(auth.WALLET_WRITE),
    "wallet.RefundPackage":           R(auth.WALLET_WRITE, store=True),
    # wallet: vouchers
    "wallet.CreateVoucherTemplate":   R(auth.WALLET_ADMIN),
    "wallet.ListVoucherTemplates":    R(auth.WALLET_READ, member="any"),
    "wallet.GetVoucherTemplate":      R(auth.WALLET_READ, member="any"),
    "wallet.DeactivateVoucherTemplate": R(auth.WALLET_ADMIN),
    "wallet.IssueVoucher":            R(auth.WALLET_WRITE),
    "wallet.VoidVoucher":             R(auth.WALLET_WRITE),
    "wallet.ListVouchers":            R(auth.WALLET_READ, member="own"),
    # wallet: holds and checkout
    "wallet.AuthorizeHold":           R(auth.WALLET_WRITE, store=True),
    "wallet.CaptureHold":             R(auth.WALLET_WRITE, store=True),
    "wallet.VoidHold":                R(auth.WALLET_WRITE),
    "wallet.ExtendHold":              R(auth.WALLET_WRITE, store=True),
    "wallet.GetHold":                 R(auth.WALLET_READ, member="own"),
    "wallet.Checkout":                R(auth.WALLET_WRITE, store=True),
    "wallet.ApproveCheckoutDiscount": R(auth.WALLET_ADJUST, store=True),
    "wallet.GetCheckout":             R(auth.WALLET_READ, member="own"),
    "wallet.ListCheckouts":           R(auth.WALLET_READ, store=True, member="own"),
    "wallet.RefundCheckout":          R(auth.WALLET_WRITE),
    # wallet: commission (staff pay: never a member's business)
    "wallet.CreateCommissionRule":    R(auth.WALLET_ADMIN),
    "wallet.ListCommissionRules":     R(auth.WALLET_READ, store=True),
    "wallet.ListCommissionRecords":   R(auth.WALLET_READ, store=True),
    "wallet.GetCommissionReport":     R(auth.WALLET_READ, store=True),
    # wallet: finance views
    "wallet.GetStoredValueLiability": R(auth.WALLET_FINANCE),
    "wallet.GetPointsLiability":      R(auth.WALLET_FINANCE),
    "wallet.GetPackageDeferredRevenue": R(auth.WALLET_FINANCE),
    "wallet.GetInterStoreClearing":   R(auth.WALLET_FINANCE),
    "wallet.GetMembership":           R(auth.WALLET_READ, member="own"),
    "wallet.GetMembershipRenewalRate": R(auth.WALLET_FINANCE),
    # booking: the menu
    "booking.CreateService":          R(auth.BOOKING_ADMIN, hq=True),
    "booking.GetService":             R(ANY, member="any"),
    "booking.ListServices":           R(ANY, member="any"),
    "booking.UpdateService":          R(auth.BOOKING_ADMIN, hq=True),
    "booking.CreateServiceOverride":  R(auth.BOOKING_ADMIN, store=True),
    "booking.GetServiceOverride":     R(ANY, store=True, member="any"),
    "booking.ListServiceOverrides":   R(ANY, store=True, member="any"),
    "booking.UpdateServiceOverride":  R(auth.BOOKING_ADMIN, store=True),
    "booking.DeleteServiceOverride":  R(auth.BOOKING_ADMIN, store=True),
    "booking.ListMenuItems":          R(ANY, store=True, member="any"),
    # booking: staff, rooms, equipment
    "booking.CreateStaff":            R(auth.BOOKING_ADMIN, store=True),
    "booking.GetStaff":               R(ANY, store=True, member="any"),
    "booking.ListStaff":              R(ANY, store=True, member="any"),
    "booking.UpdateStaff":            R(auth.BOOKING_ADMIN, store=True),
    "booking.CreateScheduleException": R(auth.BOOKING_ADMIN, store=True),
    "booking.ListScheduleExceptions": R(auth.BOOKING_STAFF, store=True),
    "booking.DeleteScheduleException": R(auth.BOOKING_ADMIN, store=True),
    "booking.CreateRoom":             R(auth.BOOKING_ADMIN, store=True),
    "booking.GetRoom":                R(ANY, store=True, member="any"),
    "booking.ListRooms":              R(ANY, store=True, member="any"),
    "booking.UpdateRoom":             R(auth.BOOKING_ADMIN, store=True),
    "booking.CreateEquipment":        R(auth.BOOKING_ADMIN, store=True),
    "booking.GetEquipment":           R(ANY, store=True, member="any"),
    "booking.ListEquipment":          R(ANY, store=True, member="any"),
    "booking.UpdateEquipment":        R(auth.BOOKING_ADMIN, store=True),
    # booking: appointments
    "booking.QueryAvailability":      R(ANY, store=True, member="any"),
    "booking.BookAppointment":        R(ANY, store=True, member="own"),
    "booking.GetAppointment":         R(ANY, store=True, member="own"),
    "booking.ListAppointments":       R(ANY, store=True, member="own"),
    "booking.UpdateAppointment":      R(auth.BOOKING_STAFF, store=True, member="own"),
    "booking.RescheduleAppointment":  R(auth.BOOKING_STAFF, store=True, member="own"),
    "booking.CancelAppointment":      R(auth.BOOKING_STAFF, store=True, member="own"),
    "booking.CheckInAppointment":     R(auth.BOOKING_STAFF, store=True),
    "booking.CompleteAppointment":    R(auth.BOOKING_STAFF, store=True),
    "booking.MarkNoShow":             R(auth.BOOKING_STAFF, store=True),
    # booking: policy and standing
    "booking.GetBookingPolicy":       R(ANY, member="any"),
    "booking.UpdateBookingPolicy":    R(auth.BOOKING_ADMIN, hq=True),
    "booking.GetBookingStanding":     R(auth.BOOKING_STAFF, member="own"),
    "booking.LiftBookingRestriction": R(auth.BOOKING_OVERRIDE),
    # booking: service plans and follow-ups
    "booking.CreateServicePlan":      R(auth.BOOKING_ADMIN, hq=True),
    "booking.GetServicePlan":         R(ANY, member="any"),
    "booking.ListServicePlans":       R(ANY, member="any"),
    "booking.UpdateServicePlan":      R(auth.BOOKING_ADMIN, hq=True),
    "booking.ListFollowUps":          R(auth.BOOKING_STAFF, store=True, member="own"),
    "booking.ListDueFollowUps":       R(auth.BOOKING_STAFF, store=True),
    "booking.ResolveFollowUp":        R(auth.BOOKING_STAFF, store=True),
    # booking: waitlist (a member's own token always joins and lists as themself)
    "booking.JoinWaitlist":           R(auth.BOOKING_STAFF, store=True, member="any"),
    "booking.GetWaitlistEntry":       R(ANY, store=True, member="own"),
    "booking.ListWaitlistEntries":    R(ANY, store=True, member="any"),
    "booking.LeaveWaitlist":          R(auth.BOOKING_STAFF, store=True, member="own"),
    "booking.AcceptWaitlistOffer":    R(auth.BOOKING_STAFF, store=True, member="own"),
    "booking.DeclineWaitlistOffer":   R(auth.BOOKING_STAFF, store=True, member="own"),
    # booking: feedback and complaints
    "booking.SubmitFeedback":         R(ANY, member="own"),
    "booking.GetFeedback":            R(ANY, member="own"),
    "booking.ListFeedback":           R(auth.BOOKING_STAFF, store=True),
    "booking.OpenComplaint":          R(ANY, member="own"),
    "booking.GetComplaint":           R(auth.BOOKING_STAFF, store=True, member="own"),
    "booking.ListComplaints":         R(auth.BOOKING_STAFF, store=True, member="own"),
    "booking.RespondToComplaint":     R(auth.BOOKING_STAFF, store=True),
    "booking.ResolveComplaint":       R(auth.BOOKING_STAFF, store=True),
    # notify
    "notify.GetMessage":              R(auth.NOTIFY_READ),
    "notify.ListMessages":            R(auth.NOTIFY_READ),
    "notify.RetryMessage":            R(auth.NOTIFY_ADMIN),
    "notify.CreateTemplate":          R(auth.NOTIFY_ADMIN),
    "notify.GetTemplate":             R(auth.NOTIFY_READ),
    "notify.ListTemplates":           R(auth.NOTIFY_READ),
    "notify.UpdateTemplate":          R(auth.NOTIFY_ADMIN),
    "notify.DeleteTemplate":          R(auth.NOTIFY_ADMIN),
    "notify.RecordReceipts":          R(auth.NOTIFY_RECEIPTS_RECORD),
    # insights (store-bound callers: their own stores; ListMetrics lists only theirs)
    "insights.ListMetrics":           R(auth.INSIGHTS_READ),
    "insights.QueryMetric":           R(auth.INSIGHTS_READ, store=True),
    "insights.ExportMetric":          R(auth.INSIGHTS_READ, store=True),
}
# fmt: on

ALLOW, DENY, ISOLATED = "allow", "deny", "isolated"
OTHER_STORE, OTHER_MEMBER, OTHER_TENANT, NO_TOKEN = (
    "front_desk@other_store",
    "member@other_member",
    "other_tenant",
    "no_token",
)


def expected(rule: Rule, column: str) -> str:
    """What `column` gets on an RPC with `rule`: allowed, denied, or isolated (another tenant's
    caller works in its own tenant: it may get anything but an effect on this one)."""
    if column == NO_TOKEN:
        return DENY
    if column == OTHER_TENANT:
        return ISOLATED
    if column in ("member", OTHER_MEMBER):
        if rule.member == "any" or (rule.member == "own" and column == "member"):
            return ALLOW
        return DENY
    role = "front_desk" if column == OTHER_STORE else column
    if (column == OTHER_STORE and rule.store) or (rule.hq and role in auth.STORE_BOUND_ROLES):
        return DENY
    if rule.permission is None or rule.permission in auth.ROLE_PERMISSIONS[role]:
        return ALLOW
    return DENY


# --- the test ------------------------------------------------------------------------------------

REFUSED = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
BEFORE_AUTHORIZATION = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
"""Refusals that may precede authorization (a malformed request, a resource the world lacks):
when the allowed caller gets the same, the denied cell is not exercised. A rule refusal
(FAILED_PRECONDITION: wrong PIN, insufficient balance...) means the request reached the rules,
which a denied caller must never do."""


@pytest.fixture(scope="module")
def world(platform) -> World:
    return seed_world(platform, "matrix")


def test_the_matrix_has_a_row_for_every_rpc_and_a_column_for_every_role():
    rpcs = {rpc.id for rpc in all_rpcs()}
    assert sorted(rpcs - set(MATRIX)) == [], "RPCs without a row in MATRIX (add one: who may call it?)"
    assert sorted(set(MATRIX) - rpcs) == [], "rows of RPCs that no longer exist"
    assert set(auth.ROLE_PERMISSIONS) <= set(COLUMNS)
    for rpc_id, rule in MATRIX.items():
        known = auth.ALL_PERMISSIONS | auth.SERVICE_ONLY_PERMISSIONS
        assert rule.permission is None or rule.permission in known, rpc_id
        assert rule.member in ("own", "any", "no"), rpc_id


@pytest.mark.e2e
def test_authorization_matrix(platform, world):
    """Denied and other-tenant calls first, on a settled world, each checked to leave no trace
    in the service's database (rows, updates, outbox; the PIN counter is a column); then the
    allowed calls. A denial is exercised only when the caller who may call it gets past
    authorization with the same request; an INVALID_ARGUMENT/NOT_FOUND of that request for
    everyone (the world has no such resource, say) leaves the cell unexercised, counted in the
    summary."""
    rpcs = [rpc for rpc in all_rpcs() if rpc.id in MATRIX]
    TALLY.notes += [f"authz matrix: could not seed {failure}" for failure in world.seed_failures]
    outcomes: dict[tuple[str, str], Outcome] = {}
    effects: list[str] = []
    baseline = {s: platform.dbs.fingerprint(s, world.tenant) for s in SERVICES}

    def run(rpc: Rpc, column: str) -> Outcome:
        body = plausible(rpc, world, by_member=column in ("member", OTHER_MEMBER)).SerializeToString()
        outcome = call(platform.channels[rpc.service], rpc, body, COLUMNS[column](world))
        outcomes[(rpc.id, column)] = outcome
        TALLY.matrix_calls += 1
        return outcome

    # Phase 1: everything that must leave the world as it was.
    for rpc in rpcs:
        TALLY.matrix_rpcs.add(rpc.id)
        for column in COLUMNS:
            if expected(MATRIX[rpc.id], column) == ALLOW:
                continue
            outcome = run(rpc, column)
            after = platform.dbs.fingerprint(rpc.service, world.tenant)
            diff = changed(baseline[rpc.service], after)
            if diff:
                TALLY.unauthorized_effects += 1
                effects.append(f"{rpc.id} x {column} -> {outcome}: changed {rpc.service}: {', '.join(diff)}")
                baseline[rpc.service] = after
    # Events of a denied call would reach the other services a little later.
    settle(platform, world)
    for service in SERVICES:
        diff = changed(baseline[service], platform.dbs.fingerprint(service, world.tenant))
        if diff:
            TALLY.unauthorized_effects += 1
            effects.append(f"after the denied calls, {service} changed: {', '.join(diff)}")

    # Phase 2: the allowed calls (which may change the world; nothing is checked after them).
    for rpc in rpcs:
        for column in COLUMNS:
            if expected(MATRIX[rpc.id], column) == ALLOW:
                run(rpc, column)

    unlike: list[str] = []
    unexercised = 0
    untested_rows: dict[str, str] = {}
    for rpc in rpcs:
        reference = outcomes[(rpc.id, "hq_admin")]
        for column in COLUMNS:
            want, got = expected(MATRIX[rpc.id], column), outcomes[(rpc.id, column)]
            if got.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                unlike.append(f"{rpc.id} x {column}: {got}")
            elif want == ALLOW and got.code in REFUSED:
                unlike.append(f"{rpc.id} x {column}: expected allowed, got {got}")
            elif want == DENY and got.code not in REFUSED:
                if got.code in BEFORE_AUTHORIZATION and got.code == reference.code:
                    unexercised += 1  # refused for every caller: this request cannot tell
                    untested_rows[rpc.id] = f"{reference.code.name} {reference.reason}".strip()
                else:
                    unlike.append(f"{rpc.id} x {column}: expected denied, got {got}")
    if untested_rows:
        TALLY.notes.append(
            "authz matrix: rows with denials not exercised (the world's request is refused for"
            " every caller): " + ", ".join(f"{k} ({v})" for k, v in untested_rows.items())
        )
    TALLY.matrix_unexpected = len(unlike)
    TALLY.matrix_unexercised = unexercised
    assert not (unlike or effects), (
        f"{len(unlike)} outcome(s) unlike the table, {len(effects)} unauthorized effect(s):\n"
        + "\n".join(unlike + effects)
    )


def test_permissions_doc_is_generated_from_this_table():
    """docs/permissions.md is this table rendered (tools/gen_permissions.py): it cannot drift."""
    from tools.gen_permissions import DOC, render

    assert DOC.read_text() == render(), "docs/permissions.md is stale: run python tools/gen_permissions.py"


@pytest.mark.e2e
def test_insights_store_bound_callers_read_only_their_stores(platform, world):
    """The matrix's out-of-store column is a front desk, which holds no insights.read at all: it
    cannot tell a store check from the permission check. Here a store manager of s2 (who holds
    insights.read) asks about s1, and for a tenant-wide figure; and ListMetrics, which never
    refuses, lists only the caller's stores."""
    rpcs = {rpc.name: rpc for rpc in all_rpcs() if rpc.service == "insights"}
    manager_of_s2 = _md(["store_manager"], stores=["stores/s2"])(world)
    channel = platform.channels["insights"]

    def listed_stores(metadata) -> set[str]:
        outcome = call(channel, rpcs["ListMetrics"], b"", metadata)
        assert outcome.ok, outcome
        return {s.store for s in ipb.ListMetricsResponse.FromString(outcome.body).stores}

    # The world's stores reach insights through members' events: wait until the HQ sees s1.
    deadline = time.monotonic() + 60
    while "stores/s1" not in listed_stores(world.hq):
        assert time.monotonic() < deadline, "insights never learned the world's stores"
        time.sleep(0.5)
    assert listed_stores(manager_of_s2) <= {"stores/s2"}

    for name in ("QueryMetric", "ExportMetric"):
        rpc = rpcs[name]
        for_s1 = rpc.request_class(metric="new_members", stores=["stores/s1"]).SerializeToString()
        outcome = call(channel, rpc, for_s1, manager_of_s2)
        assert outcome.code == grpc.StatusCode.PERMISSION_DENIED, f"{name} of s1 by s2's manager: {outcome}"
        assert outcome.reason == "STORE_OUT_OF_SCOPE", outcome
        tenant_wide = rpc.request_class(metric="liability").SerializeToString()
        outcome = call(channel, rpc, tenant_wide, manager_of_s2)
        assert outcome.code == grpc.StatusCode.PERMISSION_DENIED, f"{name} liability by a manager: {outcome}"
        assert outcome.reason == "TENANT_WIDE_METRIC", outcome
        # ... and the same requests are answered for the HQ (the refusals above are the scope's).
        assert call(channel, rpc, for_s1, world.hq).ok
        assert call(channel, rpc, tenant_wide, world.hq).ok
