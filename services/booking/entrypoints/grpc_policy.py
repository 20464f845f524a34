"""BookingService RPCs of the booking policy and members' booking standing: a mixin of
BookingServicer (grpc_servicer.py), which supplies `_mutate` and `_read` (kit.servicer).

Who may do what:
- `GetBookingPolicy`: any caller of the tenant, members included (the cancellation cut-off, lead
  time and reminders are what a member books against; the policy holds no personal data);
- `UpdateBookingPolicy`: `BOOKING_ADMIN` and a caller not bound to stores (HQ), since the policy
  is tenant-wide; a store-bound caller gets PERMISSION_DENIED (`HQ_SCOPE_REQUIRED`);
- `GetBookingStanding`: a member their own only; staff with any booking permission
  (`BOOKING_STAFF`, `BOOKING_OVERRIDE` or `BOOKING_ADMIN`) any member's;
- `LiftBookingRestriction`: staff with `BOOKING_OVERRIDE` (the permission that overrides member
  rules), audited with the caller's subject, the time and the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

from peony.booking.v1 import booking_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from services.booking.entrypoints.grpc_common import require_hq_admin
from services.booking.service_layer import policy
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

POLICY_NAME = policy.POLICY_NAME
MAX_REASON = 500
_STANDING_SUFFIX = "/bookingStanding"
_BOOKING_PERMISSIONS = (auth.BOOKING_STAFF, auth.BOOKING_OVERRIDE, auth.BOOKING_ADMIN)


policy_to_proto = policy.policy_message


# What MarkNoShow and the standing RPCs return (the conversion lives with the standing).
standing_to_proto = policy.standing_message


def standing_member_of(name: str) -> str:
    """`members/{member}/bookingStanding` -> the member id."""
    prefix = "members/"
    inner = name[len(prefix) : -len(_STANDING_SUFFIX)] if name.endswith(_STANDING_SUFFIX) else ""
    if not name.startswith(prefix) or not inner or "/" in inner or len(inner) > 64:
        raise InvalidArgument([("name", "must be members/{member}/bookingStanding")])
    return inner


def _policy_changes(request: pb.UpdateBookingPolicyRequest) -> dict:
    """The validated changes of an update (AIP-134), as BookingPolicy field values."""
    patch = request.booking_policy
    v = Violations()
    if not request.HasField("booking_policy"):
        v.add("booking_policy", "is required")
    elif patch.name != POLICY_NAME:
        v.add("booking_policy.name", f"must be {POLICY_NAME}")
    paths = list(request.update_mask.paths)
    if paths == ["*"]:
        paths = list(policy.FIELDS)
    elif not paths:
        # AIP-134: without a mask, the fields set (non-default) in the message
        paths = [f.name for f, _ in patch.ListFields() if f.name in policy.FIELDS]
        if not paths and request.HasField("booking_policy"):
            v.add("update_mask", "name at least one field to update")
    for path in paths:
        if path not in policy.FIELDS:
            v.add("update_mask", f"{path!r} is not a field you can update")
    v.raise_if_any()
    changes: dict = {}
    for path in dict.fromkeys(paths):
        value = getattr(patch, path)
        changes[path] = tuple(value) if path == "reminder_minutes_before" else value
    v.items.extend(policy.policy_violations(changes))
    v.raise_if_any()
    return changes


class PolicyRpcs:
    async def GetBookingPolicy(
        self, request: pb.GetBookingPolicyRequest, context
    ) -> pb.GetBookingPolicyResponse:
        if request.name != POLICY_NAME:
            raise InvalidArgument([("name", f"must be {POLICY_NAME}")])

        async def read(uow: BookingUnitOfWork) -> pb.GetBookingPolicyResponse:
            current, update_time = await policy.get_policy(uow)
            return pb.GetBookingPolicyResponse(booking_policy=policy_to_proto(current, update_time))

        return await self._read(read)

    async def UpdateBookingPolicy(
        self, request: pb.UpdateBookingPolicyRequest, context
    ) -> pb.UpdateBookingPolicyResponse:
        require_hq_admin("the booking policy")
        changes = _policy_changes(request)
        caller = current_principal()

        async def effect(uow: BookingUnitOfWork) -> pb.UpdateBookingPolicyResponse:
            updated, update_time = await policy.update_policy(
                uow, changes, datetime.now(UTC), updated_by=caller.subject
            )
            return pb.UpdateBookingPolicyResponse(booking_policy=policy_to_proto(updated, update_time))

        return await self._mutate("UpdateBookingPolicy", request, pb.UpdateBookingPolicyResponse, effect)

    async def GetBookingStanding(
        self, request: pb.GetBookingStandingRequest, context
    ) -> pb.GetBookingStandingResponse:
        member_id = standing_member_of(request.name)
        caller = current_principal()
        if caller.is_member_self_service:
            caller.require_member(f"members/{member_id}")
        elif not any(caller.has(p) for p in _BOOKING_PERMISSIONS):
            caller.require(auth.BOOKING_STAFF)

        async def read(uow: BookingUnitOfWork) -> pb.GetBookingStandingResponse:
            rules = await policy.load_policy(uow)
            current = await policy.standing(uow, member_id, datetime.now(UTC), rules)
            return pb.GetBookingStandingResponse(booking_standing=standing_to_proto(current))

        return await self._read(read)

    async def LiftBookingRestriction(
        self, request: pb.LiftBookingRestrictionRequest, context
    ) -> pb.LiftBookingRestrictionResponse:
        caller = current_principal()
        caller.require(auth.BOOKING_OVERRIDE)
        v = Violations()
        try:
            member_id = standing_member_of(request.name)
        except InvalidArgument as bad:
            v.items.extend(bad.violations)
        reason = request.reason.strip()
        if v.require("reason", reason) and len(reason) > MAX_REASON:
            v.add("reason", f"at most {MAX_REASON} characters")
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.LiftBookingRestrictionResponse:
            rules = await policy.load_policy(uow)
            after = await policy.lift_restriction(
                uow, member_id, lifted_by=caller.subject, reason=reason, now=datetime.now(UTC), policy=rules
            )
            return pb.LiftBookingRestrictionResponse(booking_standing=standing_to_proto(after))

        return await self._mutate(
            "LiftBookingRestriction", request, pb.LiftBookingRestrictionResponse, effect
        )
