"""gRPC entrypoint of the notify service: message status reads (tenant-scoped, NOTIFY_READ)."""

from __future__ import annotations

from datetime import datetime

from peony.notify.v1 import notify_service_pb2 as pb
from peony.notify.v1 import notify_service_pb2_grpc as pb_grpc

from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from kit.ids import parse_name
from kit.pagination import PageTokens, page_size
from services.notify.domain.message import TRIGGER_KEY
from services.notify.entrypoints import mapping as mp
from services.notify.service_layer.queries import NotifyQueries


class NotifyServicer(pb_grpc.NotifyServiceServicer):
    def __init__(self, queries: NotifyQueries, page_tokens: PageTokens):
        self._queries = queries
        self._tokens = page_tokens

    async def GetMessage(self, request: pb.GetMessageRequest, context) -> pb.GetMessageResponse:
        message_id = mp.require_message_id(request.name, "name")
        message = await self._queries.get_message(current_principal(), message_id)
        return pb.GetMessageResponse(message=mp.message_to_proto(message))

    async def ListMessages(self, request: pb.ListMessagesRequest, context) -> pb.ListMessagesResponse:
        problems = Violations()
        if request.recipient and parse_name(request.recipient, "members") is None:
            problems.add("recipient", "must be a resource name of the form members/{id}")
        if request.trigger and not TRIGGER_KEY.match(request.trigger):
            problems.add("trigger", "must be a trigger key such as 'welcome'")
        problems.raise_if_any()
        caller = current_principal()
        binding = f"{caller.tenant}|messages|{request.recipient}|{request.trigger}"
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
