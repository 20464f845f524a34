"""BookingService RPCs of service plans and follow-ups: a mixin of BookingServicer (grpc_servicer.py), which
supplies `_mutate`, `_read` and `_tokens` (kit.servicer)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from peony.booking.v1 import appointments_pb2
from peony.booking.v1 import booking_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from kit.fieldmask import checked_paths
from kit.ids import parse_name
from kit.pagination import page_size
from kit.proto import ts
from services.booking.entrypoints.grpc_common import child_id, member_id_of, require_hq_admin, store_id_of
from services.booking.service_layer import plans
from services.booking.service_layer.unit_of_work import BookingUnitOfWork

_FOLLOW_UP_STATE_BACK = {
    appointments_pb2.FOLLOW_UP_STATE_SCHEDULED: plans.SCHEDULED,
    appointments_pb2.FOLLOW_UP_STATE_FIRED: plans.FIRED,
    appointments_pb2.FOLLOW_UP_STATE_SKIPPED: plans.SKIPPED,
    appointments_pb2.FOLLOW_UP_STATE_RESOLVED: plans.RESOLVED,
}
# ServicePlan field -> column
_PLAN_COLUMNS = {
    "display_name": "display_name",
    "trigger_service": "trigger_service_id",
    "follow_up_service": "follow_up_service_id",
    "follow_up_after_days": "follow_up_after_days",
    "remind_days_before": "remind_days_before",
    "active": "active",
}


def plan_to_proto(r) -> appointments_pb2.ServicePlan:
    return appointments_pb2.ServicePlan(
        name=f"servicePlans/{r.plan_id}",
        display_name=r.display_name,
        trigger_service=f"services/{r.trigger_service_id}",
        follow_up_service=f"services/{r.follow_up_service_id}",
        follow_up_after_days=r.follow_up_after_days,
        remind_days_before=r.remind_days_before,
        active=r.active,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def _plan_id_of(name: str, field: str) -> str:
    plan_id = parse_name(name, "servicePlans") if name else None
    if not plan_id:
        raise InvalidArgument([(field, "must be servicePlans/{plan}")])
    return plan_id


def _check_service(v: Violations, field: str, name: str) -> str:
    service_id = parse_name(name, "services") if name else None
    if not service_id:
        v.add(field, "must be services/{service}")
    return service_id or ""


def _check_days(v: Violations, p: appointments_pb2.ServicePlan, fields) -> None:
    if "follow_up_after_days" in fields and not 1 <= p.follow_up_after_days <= 730:
        v.add("service_plan.follow_up_after_days", "must be 1 .. 730")
    if "remind_days_before" in fields and not 0 <= p.remind_days_before <= 30:
        v.add("service_plan.remind_days_before", "must be 0 .. 30")


class ServicePlanRpcs:
    async def CreateServicePlan(
        self, request: pb.CreateServicePlanRequest, context
    ) -> pb.CreateServicePlanResponse:
        require_hq_admin("service plans")
        p = request.service_plan
        plan_id = child_id(request.service_plan_id, "service_plan_id")
        v = Violations()
        if not request.HasField("service_plan"):
            v.add("service_plan", "is required")
        v.require("service_plan.display_name", p.display_name.strip())
        trigger = _check_service(v, "service_plan.trigger_service", p.trigger_service)
        follow_up = _check_service(v, "service_plan.follow_up_service", p.follow_up_service)
        _check_days(v, p, _PLAN_COLUMNS)
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.CreateServicePlanResponse:
            row = await plans.create_plan(
                uow,
                plan_id=plan_id,
                display_name=p.display_name.strip(),
                trigger_service_id=trigger,
                follow_up_service_id=follow_up,
                follow_up_after_days=p.follow_up_after_days,
                remind_days_before=p.remind_days_before or 1,  # 0 on create means the day before
                now=datetime.now(UTC),
            )
            return pb.CreateServicePlanResponse(service_plan=plan_to_proto(row))

        return await self._mutate("CreateServicePlan", request, pb.CreateServicePlanResponse, effect)

    async def GetServicePlan(self, request: pb.GetServicePlanRequest, context) -> pb.GetServicePlanResponse:
        plan_id = _plan_id_of(request.name, "name")

        async def read(uow: BookingUnitOfWork) -> pb.GetServicePlanResponse:
            return pb.GetServicePlanResponse(service_plan=plan_to_proto(await plans.get_plan(uow, plan_id)))

        return await self._read(read)

    async def ListServicePlans(
        self, request: pb.ListServicePlansRequest, context
    ) -> pb.ListServicePlansResponse:
        caller = current_principal()
        trigger = None
        if request.trigger_service:
            trigger = parse_name(request.trigger_service, "services")
            if not trigger:
                raise InvalidArgument([("trigger_service", "must be services/{service}")])
        page = self._tokens.page(
            request, binding=f"{caller.tenant}|servicePlans|{trigger}|{request.show_inactive}"
        )

        async def read(uow: BookingUnitOfWork) -> pb.ListServicePlansResponse:
            rows = await uow.aftercare.plans(
                limit=page.size,
                after=page.after,
                trigger_service_id=trigger,
                show_inactive=request.show_inactive,
            )
            token = page.next_token(rows, lambda r: r.plan_id)
            return pb.ListServicePlansResponse(
                service_plans=[plan_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def UpdateServicePlan(
        self, request: pb.UpdateServicePlanRequest, context
    ) -> pb.UpdateServicePlanResponse:
        require_hq_admin("service plans")
        p = request.service_plan
        plan_id = _plan_id_of(p.name, "service_plan.name")
        paths = checked_paths(request.update_mask, p, _PLAN_COLUMNS)
        v = Violations()
        changes: dict = {}
        for path in paths:
            if path == "display_name":
                if v.require("service_plan.display_name", p.display_name.strip()):
                    changes["display_name"] = p.display_name.strip()
            elif path in ("trigger_service", "follow_up_service"):
                changes[_PLAN_COLUMNS[path]] = _check_service(v, f"service_plan.{path}", getattr(p, path))
            else:
                changes[_PLAN_COLUMNS[path]] = getattr(p, path)
        _check_days(v, p, paths)
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.UpdateServicePlanResponse:
            row = await plans.update_plan(uow, plan_id, changes, datetime.now(UTC))
            return pb.UpdateServicePlanResponse(service_plan=plan_to_proto(row))

        return await self._mutate("UpdateServicePlan", request, pb.UpdateServicePlanResponse, effect)

    async def ListFollowUps(self, request: pb.ListFollowUpsRequest, context) -> pb.ListFollowUpsResponse:
        caller = current_principal()
        member_id = member_id_of(request.member) if request.member else None
        if caller.is_member_self_service:
            member_id = member_id_of(caller.subject)
            if request.member:
                caller.require_member(request.member)
        else:
            caller.require(auth.BOOKING_STAFF)
        store_ids = None
        if request.store:
            store_id = store_id_of(request.store)
            if not caller.is_member_self_service:
                caller.require_store(f"stores/{store_id}")
            store_ids = [store_id]
        elif caller.stores is not None:  # store-bound staff see their stores' follow-ups
            store_ids = sorted(s.removeprefix("stores/") for s in caller.stores)
        plan_id = _plan_id_of(request.service_plan, "service_plan") if request.service_plan else None
        if request.state and request.state not in _FOLLOW_UP_STATE_BACK:
            raise InvalidArgument([("state", "is not a follow-up state")])
        state = _FOLLOW_UP_STATE_BACK.get(request.state)
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|followUps|{member_id}|{store_ids}|{plan_id}|{state}"
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        after = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor.get("id") else None

        async def read(uow: BookingUnitOfWork) -> pb.ListFollowUpsResponse:
            rows = await uow.aftercare.follow_ups(
                limit=size,
                after=after,
                member_id=member_id,
                store_ids=store_ids,
                plan_id=plan_id,
                state=state,
            )
            token = ""
            if len(rows) == size:
                last = rows[-1]
                token = self._tokens.encode(
                    {"t": last.remind_utc.isoformat(), "id": str(last.follow_up_id)}, binding=binding
                )
            return pb.ListFollowUpsResponse(
                follow_ups=[plans.follow_up_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def ListDueFollowUps(
        self, request: pb.ListDueFollowUpsRequest, context
    ) -> pb.ListDueFollowUpsResponse:
        caller = current_principal()
        caller.require_staff()
        caller.require(auth.BOOKING_STAFF)
        if not request.store:
            raise InvalidArgument([("store", "is required")])
        store_id = store_id_of(request.store)
        caller.require_store(f"stores/{store_id}")
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|dueFollowUps|{store_id}"
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        after = None
        if cursor.get("id"):
            after = (date.fromisoformat(cursor["d"]), datetime.fromisoformat(cursor["t"]), cursor["id"])

        async def read(uow: BookingUnitOfWork) -> pb.ListDueFollowUpsResponse:
            rows = await uow.aftercare.due_follow_ups(store_id, limit=size, after=after)
            token = ""
            if len(rows) == size:
                last = rows[-1]
                token = self._tokens.encode(
                    {
                        "d": last.due_date.isoformat(),
                        "t": last.remind_utc.isoformat(),
                        "id": str(last.follow_up_id),
                    },
                    binding=binding,
                )
            return pb.ListDueFollowUpsResponse(
                follow_ups=[plans.follow_up_to_proto(r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def ResolveFollowUp(
        self, request: pb.ResolveFollowUpRequest, context
    ) -> pb.ResolveFollowUpResponse:
        caller = current_principal()
        caller.require_staff()
        caller.require(auth.BOOKING_STAFF)
        v = Violations()
        follow_up_id = parse_name(request.name, "followUps", uuid=True)
        if not follow_up_id:
            v.add("name", "must be followUps/{follow_up}")
        outcome = plans.OUTCOME_OF.get(request.outcome)
        if outcome is None:
            v.add("outcome", "must be REACHED, BOOKED, DECLINED or UNREACHABLE")
        booked = None
        if request.booked_appointment:
            booked = parse_name(request.booked_appointment, "appointments", uuid=True)
            if not booked:
                v.add("booked_appointment", "must be appointments/{appointment}")
            elif outcome is not None and outcome != "booked":
                v.add("booked_appointment", "only with outcome FOLLOW_UP_OUTCOME_BOOKED")
        v.raise_if_any()

        async def effect(uow: BookingUnitOfWork) -> pb.ResolveFollowUpResponse:
            row = await plans.resolve_follow_up(
                uow,
                caller,
                follow_up_id,
                outcome=outcome,
                booked_appointment_id=booked,
                now=datetime.now(UTC),
            )
            return pb.ResolveFollowUpResponse(follow_up=plans.follow_up_to_proto(row))

        return await self._mutate("ResolveFollowUp", request, pb.ResolveFollowUpResponse, effect)
