"""gRPC entrypoint of the notify service: message status, re-sending, tenant templates."""

from __future__ import annotations

from datetime import datetime

from peony.notify.v1 import message_pb2
from peony.notify.v1 import notify_service_pb2 as pb
from peony.notify.v1 import notify_service_pb2_grpc as pb_grpc

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, NotFound, Violations
from kit.fieldmask import checked_paths
from kit.ids import parse_name
from kit.pagination import page_size
from kit.servicer import ServicerKit
from services.notify.domain.default_templates import DEFAULT_TEMPLATES
from services.notify.domain.message import TRIGGER_KEY
from services.notify.entrypoints import mapping as mp
from services.notify.service_layer import commands, receipts
from services.notify.service_layer.queries import NotifyQueries
from services.notify.service_layer.receipts import Receipts
from services.notify.service_layer.unit_of_work import NotifyUnitOfWork

MAX_RECEIPT_BYTES = 64 * 1024

_STATES = {
    getattr(message_pb2, f"MESSAGE_STATE_{s.upper()}"): s
    for s in ("queued", "sent", "delivered", "failed", "deferred", "suppressed")
}


class NotifyServicer(ServicerKit[NotifyUnitOfWork], pb_grpc.NotifyServiceServicer):
    def __init__(self, uows, idempotency, page_tokens, queries: NotifyQueries, receipts: Receipts):
        super().__init__(uows, idempotency, page_tokens)
        self._queries = queries
        self._receipts = receipts

    # --- messages ------------------------------------------------------------------------------
    async def GetMessage(self, request: pb.GetMessageRequest, context) -> pb.GetMessageResponse:
        message_id = mp.require_message_id(request.name, "name")
        message = await self._queries.get_message(current_principal(), message_id)
        return pb.GetMessageResponse(message=mp.message_to_proto(message))

    async def ListMessages(self, request: pb.ListMessagesRequest, context) -> pb.ListMessagesResponse:
        problems = Violations()
        if request.recipient and (
            parse_name(request.recipient, "members") is None
            and parse_name(request.recipient, "stores") is None
        ):
            problems.add("recipient", "must be a resource name of the form members/{id} or stores/{id}")
        if request.trigger and not TRIGGER_KEY.match(request.trigger):
            problems.add("trigger", "must be a trigger key such as 'welcome'")
        if request.state and request.state not in _STATES:
            problems.add("state", "unknown state")
        problems.raise_if_any()
        caller = current_principal()
        binding = f"{caller.tenant}|messages|{request.recipient}|{request.trigger}|{request.state}"
        size = page_size(request.page_size)
        cursor = self._tokens.decode(request.page_token, binding=binding)
        after = None
        if cursor is not None:
            try:
                after = (datetime.fromisoformat(cursor["t"]), str(cursor["id"]))
            except (KeyError, TypeError, ValueError):
                raise InvalidArgument(
                    [("page_token", "is not a token issued for this query")], reason="INVALID_PAGE_TOKEN"
                ) from None
        messages = await self._queries.list_messages(
            caller,
            limit=size,
            after=after,
            recipient=request.recipient or None,
            trigger=request.trigger or None,
            state=_STATES.get(request.state),
        )
        next_token = ""
        if len(messages) == size:
            last = messages[-1]
            assert last.create_time is not None
            next_token = self._tokens.encode(
                {"t": last.create_time.isoformat(), "id": last.message_id}, binding=binding
            )
        return pb.ListMessagesResponse(
            messages=[mp.message_to_proto(m) for m in messages], next_page_token=next_token
        )

    async def RetryMessage(self, request: pb.RetryMessageRequest, context) -> pb.RetryMessageResponse:
        caller = current_principal()
        caller.require(auth.NOTIFY_ADMIN)
        message_id = mp.require_message_id(request.name, "name")

        async def effect(uow: NotifyUnitOfWork) -> pb.RetryMessageResponse:
            message = await commands.retry_message(uow, caller, message_id)
            return pb.RetryMessageResponse(message=mp.message_to_proto(message))

        return await self._mutate("RetryMessage", request, pb.RetryMessageResponse, effect)

    # --- templates -----------------------------------------------------------------------------
    async def CreateTemplate(self, request: pb.CreateTemplateRequest, context) -> pb.CreateTemplateResponse:
        caller = current_principal()
        caller.require(auth.NOTIFY_ADMIN)
        trigger = mp.require_trigger(request.parent)
        channel, locale = commands.parse_template_id(trigger, request.template_id, "template_id")
        template = mp.template_from_proto(request.template)

        async def effect(uow: NotifyUnitOfWork) -> pb.CreateTemplateResponse:
            saved, created, updated = await commands.create_template(
                uow, caller, trigger, channel, locale, template
            )
            return pb.CreateTemplateResponse(
                template=mp.template_to_proto(trigger, channel, locale, saved, created, updated)
            )

        return await self._mutate("CreateTemplate", request, pb.CreateTemplateResponse, effect)

    async def GetTemplate(self, request: pb.GetTemplateRequest, context) -> pb.GetTemplateResponse:
        trigger, channel, locale = mp.require_template(request.name)
        for ch, loc, tpl, created, updated, built_in in await self._queries.templates(
            current_principal(), trigger
        ):
            if (ch, loc) == (channel, locale):
                return pb.GetTemplateResponse(
                    template=mp.template_to_proto(trigger, ch, loc, tpl, created, updated, built_in=built_in)
                )
        raise NotFound(f"{request.name} not found", reason="TEMPLATE_NOT_FOUND")

    async def ListTemplates(self, request: pb.ListTemplatesRequest, context) -> pb.ListTemplatesResponse:
        trigger = mp.require_trigger(request.parent)
        if (trigger, "*", "zh-CN") not in DEFAULT_TEMPLATES:
            raise NotFound(f"{request.parent} is not a trigger", reason="TRIGGER_NOT_FOUND")
        rows = await self._queries.templates(current_principal(), trigger)
        return pb.ListTemplatesResponse(
            templates=[
                mp.template_to_proto(trigger, ch, loc, tpl, created, updated, built_in=built_in)
                for ch, loc, tpl, created, updated, built_in in rows
            ]
        )

    async def UpdateTemplate(self, request: pb.UpdateTemplateRequest, context) -> pb.UpdateTemplateResponse:
        caller = current_principal()
        caller.require(auth.NOTIFY_ADMIN)
        trigger, channel, locale = mp.require_template(request.template.name, "template.name")
        paths = checked_paths(request.update_mask, request.template, commands.TEMPLATE_MUTABLE)
        patch = mp.template_from_proto(request.template)

        async def effect(uow: NotifyUnitOfWork) -> pb.UpdateTemplateResponse:
            saved, created, updated = await commands.update_template(
                uow, caller, trigger, channel, locale, patch, paths
            )
            return pb.UpdateTemplateResponse(
                template=mp.template_to_proto(trigger, channel, locale, saved, created, updated)
            )

        return await self._mutate("UpdateTemplate", request, pb.UpdateTemplateResponse, effect)

    async def DeleteTemplate(self, request: pb.DeleteTemplateRequest, context) -> pb.DeleteTemplateResponse:
        caller = current_principal()
        caller.require(auth.NOTIFY_ADMIN)
        trigger, channel, locale = mp.require_template(request.name)

        async def effect(uow: NotifyUnitOfWork) -> pb.DeleteTemplateResponse:
            await commands.delete_template(uow, caller, trigger, channel, locale)
            return pb.DeleteTemplateResponse()

        return await self._mutate("DeleteTemplate", request, pb.DeleteTemplateResponse, effect)

    # --- receipts ------------------------------------------------------------------------------
    async def RecordReceipts(self, request: pb.RecordReceiptsRequest, context) -> pb.RecordReceiptsResponse:
        caller = current_principal()
        receipts.authorize(caller)  # before looking at anything the caller sent
        problems = Violations()
        if not request.provider:
            problems.add("provider", "is required")
        if len(request.body) > MAX_RECEIPT_BYTES:
            problems.add("body", f"must be at most {MAX_RECEIPT_BYTES} bytes")
        problems.raise_if_any()
        applied, (content_type, ack) = await self._receipts.record(
            caller,
            request.provider,
            {k.lower(): v for k, v in request.headers.items()},
            request.body,
            dict(request.query),
        )
        return pb.RecordReceiptsResponse(applied=applied, ack_content_type=content_type, ack_body=ack)
