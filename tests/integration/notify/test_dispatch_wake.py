"""New messages wake the dispatcher: the consumer's commit NOTIFYs ``peony_notify_dispatch`` and
the dispatch loops LISTEN, so a message does not wait for the queue poll. Here the poll is a
minute (``PEONY_NOTIFY_DISPATCH_INTERVAL_SECONDS=60``), so the message can only reach the
provider within the test's wait because of the wake-up; removing it makes this test fail."""

from __future__ import annotations

from peony.wallet.v1 import events_pb2 as wallet_events

from tests.integration.notify.conftest import Stack, eventually, new_phone, new_tenant

TENANT = new_tenant()


async def test_a_new_message_wakes_the_dispatch_loops_instead_of_waiting_for_the_poll(stack: Stack):
    runner = await stack.start_notify(
        PEONY_NOTIFY_DISPATCH_INTERVAL_SECONDS="60", PEONY_NOTIFY_DISPATCH_WAKE="on"
    )
    try:
        store = await stack.store(TENANT)
        phone = new_phone()
        member = await stack.member(TENANT, store, phone=phone)
        await stack.publish(
            TENANT, wallet_events.PointsEarned(member=member.name, points=5, points_available=5)
        )

        async def points_message_sent():
            rows = [
                r for r in await stack.rows(TENANT, "points_earned") if r["state"] in ("sent", "delivered")
            ]
            return rows or None

        # well under the 60 s poll: only the wake-up can get it there this soon
        [row] = await eventually(points_message_sent, within=40, what="the points message sent")
        [at_provider] = await stack.sent_for({row["message_id"]})
        assert at_provider["message_id"] == row["message_id"]
    finally:
        await stack.stop_notify(runner)
