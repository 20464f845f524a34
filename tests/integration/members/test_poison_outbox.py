"""A member's event stream keeps flowing (issue 9, example 4), through the real members service:
a poison row in the outbox (written before the size guard existed, or by a bug) is parked with a
metric, and the member's next event reaches JetStream within 2 s."""

from __future__ import annotations

import time
import uuid

import pytest
from google.protobuf import field_mask_pb2
from nats.js.api import DeliverPolicy
from peony.events.v1.envelope_pb2 import EventEnvelope
from peony.members.v1 import events_pb2, member_pb2
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text

from kit.messaging import connect, new_envelope
from tests.integration.members.conftest import MembersUnderTest
from tests.support.metrics import global_metric_reader, metric_points

pytestmark = pytest.mark.integration
MEMBERS = {"peony.service": "members"}


async def test_a_poison_row_is_parked_and_the_members_next_event_arrives_within_2s(
    members: MembersUnderTest,
) -> None:
    reader = global_metric_reader()  # the service's relay records on the global meter provider
    parked_before = sum(p.value for p in metric_points(reader, "peony.outbox.parked", **MEMBERS))
    store = await members.create_store()
    member = (
        await members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(display_name="王静", phone="13600009999", home_store=store),
                request_id=str(uuid.uuid4()),
            ),
            metadata=members.auth(),
        )
    ).member
    member_id = member.name.removeprefix("members/")

    nc, js = await connect(members.nats_url, "poison-test")
    try:
        sub = await js.subscribe(
            "peony.members.MemberUpdated", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        # The poison row: member X's event of 1.1 MB (as the 1 MB line item of issue 9 produced),
        # inserted directly, as rows written before the size guard existed are.
        poison = new_envelope(
            events_pb2.MemberUpdated(member=member.name, updated_fields=["x" * (1100 * 1024)]),
            tenant="acme",
            aggregate_type="member",
            aggregate_id=member_id,
        )
        async with members.db.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO outbox (event_id, tenant_id, aggregate_type, aggregate_id, subject,"
                    " event_type, payload) VALUES (:id, 'acme', 'member', :agg,"
                    " 'peony.members.MemberUpdated', 'peony.members.v1.MemberUpdated', :payload)"
                ),
                {"id": uuid.UUID(poison.event_id), "agg": member_id, "payload": poison.SerializeToString()},
            )

        # X's next event, through the normal path.
        started = time.monotonic()
        await members.stub.UpdateMember(
            pb.UpdateMemberRequest(
                member=member_pb2.Member(name=member.name, display_name="王静怡"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                request_id=str(uuid.uuid4()),
            ),
            metadata=members.auth(),
        )
        while True:
            left = 2.0 - (time.monotonic() - started)
            assert left > 0, "the member's next event did not arrive within 2 s"
            msg = await sub.next_msg(timeout=left)
            env = EventEnvelope.FromString(msg.data)
            if env.aggregate_id == member_id:
                break
        took = time.monotonic() - started
        assert env.event_id != poison.event_id
        updated = events_pb2.MemberUpdated()
        assert env.payload.Unpack(updated) and list(updated.updated_fields) == ["display_name"]
        print(f"member's next event arrived {took:.3f}s after UpdateMember was sent")
    finally:
        await nc.close()

    async with members.db.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT parked_at, published_at, rejections, last_error FROM outbox WHERE event_id = :id"
                ),
                {"id": uuid.UUID(poison.event_id)},
            )
        ).one()
    assert row.parked_at is not None and row.published_at is None
    assert row.rejections == 5 and "max_payload" in row.last_error
    parked_after = sum(p.value for p in metric_points(reader, "peony.outbox.parked", **MEMBERS))
    assert parked_after == parked_before + 1
    (gauge,) = metric_points(reader, "peony.outbox.parked_rows", **MEMBERS)
    assert gauge.value >= 1
