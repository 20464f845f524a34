"""End to end: REST gateway -> members -> outbox -> NATS JetStream -> notify -> members'
ResolveContact -> the local SMS provider server."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import aiohttp
import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.members.v1 import member_pb2, store_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc
from peony.notify.v1 import message_pb2
from peony.notify.v1 import notify_service_pb2 as npb
from peony.notify.v1 import notify_service_pb2_grpc as npb_grpc
from peony.wallet.v1 import events_pb2 as wallet_events

from cli.devstack import postgres_bin_dir
from kit.auth import mint_dev_token
from kit.messaging import connect, new_envelope
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

TENANT = "e2e-chain"
TOKEN = mint_dev_token(tenant=TENANT, subject="user:e2e", roles=["hq_admin"])
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
_phones = iter(range(1_000_000))


def phone() -> str:
    return f"137{next(_phones) + 55_000_000:08d}"


def sent_sms(stack) -> list[dict]:
    """What the local provider servers accepted (each with notify's message id and the number)."""
    with urllib.request.urlopen(f"{stack.providers_url}/_sim/messages", timeout=5) as resp:  # noqa: S310
        return [m for m in json.loads(resp.read())["messages"] if m.get("to")]


async def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


async def create_store(session: aiohttp.ClientSession, stack, store_id: str) -> str:
    async with session.post(
        f"{stack.gateway_url}/v1/stores?storeId={store_id}",
        json={"displayName": f"Store {store_id}", "timeZone": "Asia/Shanghai"},
        headers={**HEADERS, "X-Request-Id": str(uuid.uuid4())},
        params={"requestId": str(uuid.uuid4())},
    ) as resp:
        assert resp.status in (200, 409), await resp.text()
    return f"stores/{store_id}"


async def register(session, stack, store: str, mobile: str, request_id: str) -> tuple[int, dict]:
    body = {"member": {"displayName": "陈美", "phone": mobile, "homeStore": store}, "requestId": request_id}
    async with session.post(f"{stack.gateway_url}/v1/members", json=body, headers=HEADERS) as resp:
        return resp.status, await resp.json()


async def test_register_through_gateway_fetch_over_grpc_one_welcome_one_trace(stack):
    mobile = phone()
    async with aiohttp.ClientSession() as session:
        store = await create_store(session, stack, "e2e-main")
        request_id = str(uuid.uuid4())
        status, first = await register(session, stack, store, mobile, request_id)
        assert status == 200, first
        status, again = await register(session, stack, store, mobile, request_id)  # a client retry
        assert status == 200 and again == first
        name = first["member"]["name"]

        async with session.get(f"{stack.gateway_url}/v1/{name}", headers=HEADERS) as resp:
            assert resp.status == 200
        async with session.get(
            f"{stack.gateway_url}/v1/{name}", headers={"Authorization": "Bearer nope"}
        ) as resp:
            assert resp.status == 401
            error = (await resp.json())["error"]
            assert error["status"] == "UNAUTHENTICATED" and error["details"]

    async with grpc.aio.insecure_channel(stack.members_addr) as channel:
        got = await pb_grpc.MembersServiceStub(channel).GetMember(
            pb.GetMemberRequest(name=name), metadata=(("authorization", f"Bearer {TOKEN}"),)
        )
    assert got.member.phone == "+86" + mobile

    welcome = await wait_until(lambda: [m for m in sent_sms(stack) if m["to"] == mobile])
    assert len(welcome) == 1, welcome
    assert welcome[0]["template_params"]["content"].startswith("亲爱的")
    await asyncio.sleep(2)  # a late duplicate would show up by now
    assert len([m for m in sent_sms(stack) if m["to"] == mobile]) == 1

    # One trace holds every hop: gateway -> members -> PostgreSQL -> NATS publish -> notify.
    def hops():
        spans = stack.otlp.spans()
        roots = [
            s
            for s in spans
            if s.service_name == "peony-gateway"
            and s.kind == "SERVER"
            and s.attributes.get("http.route", "").endswith("/v1/members")
        ]
        for root in roots:
            trace = stack.otlp.trace(root.trace_id)
            kinds = {(s.service_name, s.kind) for s in trace}
            has_db = any(s.service_name == "peony-members" and s.attributes.get("db.system") for s in trace)
            wanted = {
                ("peony-gateway", "SERVER"),
                ("peony-gateway", "CLIENT"),
                ("peony-members", "SERVER"),
                ("peony-members", "PRODUCER"),
                ("peony-notify", "CONSUMER"),
            }
            if wanted <= kinds and has_db:
                return trace
        return None

    trace = await wait_until(hops, timeout=30)
    seen = sorted({(s.service_name, s.kind, s.name) for s in stack.otlp.spans()})
    assert trace, f"no complete trace; spans seen: {seen}"

    # The phone never leaves the members database unencrypted: not in spans, not in logs.
    for span in stack.otlp.spans():
        for value in span.attributes.values():
            assert mobile not in str(value), (span.name, value)
    assert mobile not in stack.all_logs()


def _readme_calls(gateway_url: str, tenant: str) -> str:
    """The README's "Calling it" shell block, pointed at this stack and a tenant of its own."""
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "curl " in b)
    block = block.replace(".venv/bin/peony", f"{shlex.quote(sys.executable)} -m cli.main")
    block = block.replace("--tenant demo", f"--tenant {tenant}")
    block = block.replace("localhost:8080", gateway_url.removeprefix("http://"))
    # `peony demo` loads 200 members over gRPC: not what this test is about.
    return "\n".join(line for line in block.splitlines() if " demo " not in f"{line} ")


async def test_readme_curl_examples_work_as_written(stack):
    """Run with bash, plain curl and python3 only (no uuidgen, no curl >= 7.87 options)."""
    tenant = f"readme-{uuid.uuid4().hex[:8]}"
    script = _readme_calls(stack.gateway_url, tenant)
    env = {k: v for k, v in stack.env.items() if not k.startswith("OTEL_")}
    env["PATH"] = "/usr/bin:/bin"  # what a fresh machine has: no uuidgen from elsewhere
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    decoder, text, docs = json.JSONDecoder(), done.stdout.strip(), []
    while text:
        doc, end = decoder.raw_decode(text)
        docs.append(doc)
        text = text[end:].lstrip()
    assert [("error" in d) for d in docs] == [False] * 4, docs
    store, registered, listed, found = docs
    assert store["store"]["name"] == "stores/jingan"
    assert registered["member"]["homeStore"] == "stores/jingan"
    assert [m["name"] for m in listed["members"]] == [registered["member"]["name"]]
    assert found["member"]["name"] == registered["member"]["name"]


async def test_welcome_exactly_once_when_notify_is_killed_mid_burst(stack):
    async with aiohttp.ClientSession() as session:
        store = await create_store(session, stack, "e2e-burst")
        mobiles: list[str] = []

        async def one() -> None:
            mobile, request_id = phone(), str(uuid.uuid4())
            # As a real client does: a call the gateway timed out or shed (a loaded CI machine)
            # is sent again with the same request_id, which must not register twice.
            for _ in range(5):
                status, body = await register(session, stack, store, mobile, request_id)
                if status not in (429, 503, 504):
                    break
                await asyncio.sleep(0.5)
            assert status == 200, body
            mobiles.append(mobile)

        burst = [asyncio.create_task(one()) for _ in range(40)]
        await asyncio.sleep(0.3)
        stack.notify.signal(signal.SIGKILL)  # mid-burst, no chance to clean up
        stack.notify.wait(10)
        await asyncio.gather(*burst)
        await asyncio.sleep(1)
        stack.notify.start()

    # Every welcome is decided after the restart; one caught between Alibaba accepting it and the
    # record is looked up there (QuerySendDetails by OutId) when its lease runs out, not re-sent
    # blindly nor given up (service_layer/dispatch.py).
    async def settled():
        found, token = [], ""
        async with grpc.aio.insecure_channel(stack.env["PEONY_NOTIFY_ADDR"]) as channel:
            while True:
                listed = await npb_grpc.NotifyServiceStub(channel).ListMessages(
                    npb.ListMessagesRequest(trigger="welcome", page_size=100, page_token=token),
                    metadata=(("authorization", f"Bearer {TOKEN}"),),
                )
                found += listed.messages
                token = listed.next_page_token
                if not token:
                    break
        pending = (message_pb2.MESSAGE_STATE_QUEUED, message_pb2.MESSAGE_STATE_DEFERRED)
        # A welcome whose event the killed notify had fetched but not acked only exists once
        # JetStream redelivers it (after the consumer's ack wait): wait for one per member.
        if len(found) < len(mobiles):
            return None
        return found if all(m.state not in pending for m in found) else None

    # in-doubt claims wait out their lease (about 35 s with the default send timeout) first
    messages = await wait_until(settled, timeout=120)
    assert messages, "welcomes still queued two minutes after notify restarted"
    failed = [m for m in messages if m.state == message_pb2.MESSAGE_STATE_FAILED]
    assert failed == [], failed
    ids: dict[str, list[str]] = {}
    for line in sent_sms(stack):
        ids.setdefault(line["to"], []).append(line["message_id"])
    # Exactly one SMS per member.
    wrong = {m: ids.get(m) for m in mobiles if len(ids.get(m, [])) != 1}
    assert wrong == {}, wrong


async def test_sigterm_under_load_fails_no_in_flight_call(stack):
    """SIGTERM drains: every call the server accepted completes; later calls are refused cleanly."""
    md = (("authorization", f"Bearer {TOKEN}"),)
    async with aiohttp.ClientSession() as session:
        store = await create_store(session, stack, "e2e-drain")
    outcomes: list[tuple[float, grpc.StatusCode]] = []
    stop = asyncio.Event()

    async def client(channel) -> None:
        stub = pb_grpc.MembersServiceStub(channel)
        while not stop.is_set():
            started = time.monotonic()
            try:
                await stub.RegisterMember(
                    pb.RegisterMemberRequest(
                        member={"display_name": "刘芳", "phone": phone(), "home_store": store},
                        request_id=str(uuid.uuid4()),
                    ),
                    metadata=md,
                    timeout=15,
                )
                outcomes.append((started, grpc.StatusCode.OK))
            except grpc.aio.AioRpcError as err:
                outcomes.append((started, err.code()))
                await asyncio.sleep(0.05)

    async with grpc.aio.insecure_channel(stack.members_addr) as channel:
        clients = [asyncio.create_task(client(channel)) for _ in range(16)]
        # Under load, not after a fixed time: a loaded CI machine completes fewer calls per second.
        for _ in range(600):
            if len(outcomes) > 20:
                break
            await asyncio.sleep(0.05)
        sigterm_at = time.monotonic()
        stack.members.signal(signal.SIGTERM)
        try:
            assert stack.members.wait(30) == 0, stack.members.log_tail()
            stop.set()
            await asyncio.gather(*clients)
        finally:
            stop.set()
            if stack.members.proc.poll() is not None:
                stack.members.start()  # leave the stack as we found it, whatever the outcome ...
            stack.wait_gateway_sees("members")  # ... and reachable through the gateway again

    before = [code for started, code in outcomes if started < sigterm_at]
    after = [code for started, code in outcomes if started >= sigterm_at]
    assert len(before) > 20
    # Calls issued before SIGTERM all succeed (some finish during the drain); afterwards the
    # server only ever refuses with UNAVAILABLE - never a call cut off half-way.
    assert set(before) == {grpc.StatusCode.OK}, sorted({c.name for c in before})
    assert set(after) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, sorted({c.name for c in after})


async def test_notify_keeps_no_phone_email_or_openid_in_its_database_logs_or_spans(stack):
    """Members with a phone, an e-mail and a WeChat openid get messages on SMS, WeChat and e-mail
    (notify resolves each address from members at send time). Afterwards none of those addresses
    is in a pg_dump of notify's database, in any service's log, or in any exported span (attribute
    values and event names)."""
    md = (("authorization", f"Bearer {TOKEN}"),)
    contacts: list[tuple[str, str, str, str]] = []  # (member, phone, e-mail, openid)
    async with aiohttp.ClientSession() as session, grpc.aio.insecure_channel(stack.members_addr) as channel:
        members = pb_grpc.MembersServiceStub(channel)
        store = await create_store(session, stack, "e2e-privacy")
        for consent in (
            member_pb2.Consent(),  # transactional on the rich channels first: WeChat
            member_pb2.Consent(transactional_sms_opt_out=True, transactional_wechat_opt_out=True),  # e-mail
        ):
            mobile, email, openid = (
                phone(),
                f"pii.{uuid.uuid4().hex[:10]}@mail.example",
                f"oPII{uuid.uuid4().hex}",
            )
            status, body = await register(session, stack, store, mobile, str(uuid.uuid4()))
            assert status == 200, body
            name = body["member"]["name"]
            patch = member_pb2.Member(name=name, email=email, wechat_openid=openid, consent=consent)
            await members.UpdateMember(
                pb.UpdateMemberRequest(
                    member=patch,
                    update_mask=field_mask_pb2.FieldMask(paths=["email", "wechat_openid", "consent"]),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md,
            )
            contacts.append((name, mobile, email, openid))
    nc, js = await connect(stack.env["PEONY_NATS_URL"], "e2e-privacy")
    try:
        for name, *_ in contacts:
            event = wallet_events.PointsEarned(member=name, points=10, points_available=10)
            envelope = new_envelope(event, tenant=TENANT, aggregate_type="wallet", aggregate_id=name[8:])
            headers = {"Nats-Msg-Id": envelope.event_id}
            await js.publish("peony.wallet.PointsEarned", envelope.SerializeToString(), headers=headers)
    finally:
        await nc.close()

    def addressed() -> set[str]:
        with urllib.request.urlopen(f"{stack.providers_url}/_sim/messages", timeout=5) as resp:  # noqa: S310
            return {m.get("to", "") for m in json.loads(resp.read())["messages"]}

    # the welcome by SMS, points by WeChat to the first member and by e-mail to the second
    wanted = {contacts[0][1], contacts[0][3], contacts[1][2]}
    assert await wait_until(lambda: wanted <= addressed(), timeout=60), wanted - addressed()
    await asyncio.sleep(1)  # the batch span processors export every 200 ms

    url = stack.env["PEONY_NOTIFY_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    dump = subprocess.run(
        [str(postgres_bin_dir() / "pg_dump"), url], capture_output=True, text=True, check=True
    ).stdout
    assert "CREATE TABLE public.messages" in dump  # a real dump of notify's tables
    logs = stack.all_logs()
    spans = [
        (span.service_name, span.name, " ".join([*map(str, span.attributes.values()), *span.events]))
        for span in stack.otlp.spans()
    ]
    assert any(service == "peony-notify" for service, _, _ in spans)
    for _, mobile, email, openid in contacts:
        for secret in (mobile, mobile[-8:], email, openid):
            assert secret not in dump, secret
            assert secret not in logs, secret
            leaks = [(service, name) for service, name, text in spans if secret in text]
            assert not leaks, (secret, leaks)


KILL_WEBHOOK = "e2e-kill-webhook"  # SMS through the webhook provider (drops a repeated Idempotency-Key)
KILL_ALIYUN = "e2e-kill-aliyun"  # the default SMS route: Alibaba Cloud, then Tencent (both can be asked)


@pytest.mark.timeout(600)
async def test_sigkill_mid_burst_of_1000_triggers_sends_each_message_exactly_once(stack, tmp_path):
    """Notify (a process of its own) is SIGKILLed while it dispatches 1,000 triggers and restarted.
    Its claims are committed before each provider call, so what the kill leaves in flight is
    reconciled, never blindly re-sent: on the default SMS route (Alibaba, which takes a repeat as a
    new message) notify asks QuerySendDetails for each in-doubt claim and re-sends only what is
    not there; the webhook provider drops a repeated Idempotency-Key. On both, every message
    arrives exactly once and none is lost."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.notify.adapters.providers.config import dev_document, ensure_dev_service_account
    from tests.e2e.conftest import ServiceProcess

    doc = dev_document(
        stack.providers_url, int(stack.env["PEONY_DEV_SMTP_PORT"]), ensure_dev_service_account()
    )
    doc["routing"]["tenants"] = {KILL_WEBHOOK: {"sms": ["webhook_sms"]}}
    providers_file = tmp_path / "providers.json"
    providers_file.write_text(json.dumps(doc))
    env = {
        **stack.env,
        "PEONY_NOTIFY_PROVIDERS_FILE": str(providers_file),
        "PEONY_NOTIFY_SEND_TIMEOUT_SECONDS": "2",  # claims' leases run out soon after a kill
    }
    notify = ServiceProcess(
        "notify-kill", stack.notify.command, env, stack.logs / "notify-kill.log", stack.notify.health
    )
    members: dict[str, list[str]] = {}
    async with grpc.aio.insecure_channel(stack.members_addr) as channel:
        stub = pb_grpc.MembersServiceStub(channel)
        for tenant in (KILL_WEBHOOK, KILL_ALIYUN):
            md = (
                (
                    "authorization",
                    f"Bearer {mint_dev_token(tenant=tenant, subject='user:e2e', roles=['hq_admin'])}",
                ),
            )
            await stub.CreateStore(
                pb.CreateStoreRequest(
                    store_id="kill",
                    store=store_pb2.Store(display_name="Kill", time_zone="Asia/Shanghai"),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=md,
            )
            members[tenant] = []
            for _ in range(10):
                got = await stub.RegisterMember(
                    pb.RegisterMemberRequest(
                        member=member_pb2.Member(
                            display_name="客", phone="+86" + phone(), home_store="stores/kill"
                        ),
                        request_id=str(uuid.uuid4()),
                    ),
                    metadata=md,
                )
                members[tenant].append(got.member.name)
    engine = create_async_engine(stack.env["PEONY_NOTIFY_DATABASE_URL"])

    async def points_messages() -> dict[str, list]:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT tenant_id, message_id::text AS id, state, last_error FROM messages"
                        " WHERE tenant_id IN (:a, :b) AND trigger = 'points_earned'"
                    ),
                    {"a": KILL_WEBHOOK, "b": KILL_ALIYUN},
                )
            ).all()
        out: dict[str, list] = {KILL_WEBHOOK: [], KILL_ALIYUN: []}
        for r in rows:
            out[r.tenant_id].append(r)
        return out

    def sim(method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the local provider servers
            f"{stack.providers_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return json.loads(resp.read())

    # Slow providers: a batch spends most of its time in provider calls, so the kill lands with
    # claims committed and calls in flight (the window a naive dispatcher re-sends from).
    for provider in ("aliyun_sms", "webhook_sms"):
        sim("POST", "/_sim/faults", {"provider": provider, "mode": "latency", "latency_ms": 800})
    before = sim("GET", "/_sim/stats")
    stack.notify.stop()
    notify.start()
    try:
        nc, js = await connect(stack.env["PEONY_NATS_URL"], "e2e-kill")
        try:
            for i in range(1000):
                tenant = (KILL_WEBHOOK, KILL_ALIYUN)[i % 2]
                member = members[tenant][(i // 2) % 10]
                event = wallet_events.PointsEarned(member=member, points=i + 1, points_available=i + 1)
                envelope = new_envelope(
                    event, tenant=tenant, aggregate_type="wallet", aggregate_id=member[8:]
                )
                headers = {"Nats-Msg-Id": envelope.event_id}
                await js.publish("peony.wallet.PointsEarned", envelope.SerializeToString(), headers=headers)
        finally:
            await nc.close()

        async def in_flight():
            # kill while a batch's claims are committed and its provider calls not yet recorded
            rows = await points_messages()
            states = [r.state for v in rows.values() for r in v]
            return states.count("sending") >= 10 and states.count("sent") >= 50

        assert await wait_until(in_flight, timeout=120, interval=0.05), "no batch caught in flight"
        notify.signal(signal.SIGKILL)  # no chance to record what the providers answered
        notify.wait(10)
        notify.start()

        async def settled():
            rows = await points_messages()
            done = all(
                len(v) == 500 and all(r.state in ("sent", "delivered", "failed") for r in v)
                for v in rows.values()
            )
            return rows if done else None

        rows = await wait_until(settled, timeout=300)
        assert rows, "not every trigger became a settled message after the restart"
    finally:
        notify.stop()
        sim("DELETE", "/_sim/faults")
        stack.notify.start()
        await engine.dispose()

    at_provider, stats = sim("GET", "/_sim/messages")["messages"], sim("GET", "/_sim/stats")
    times: dict[str, int] = {}
    for m in at_provider:
        if m.get("message_id"):
            times[m["message_id"]] = times.get(m["message_id"], 0) + 1
    # both routes: every message exactly once at the provider, none lost, none failed
    for tenant in (KILL_WEBHOOK, KILL_ALIYUN):
        assert [(r.id, r.last_error) for r in rows[tenant] if r.state == "failed"] == []
        assert {times.get(r.id, 0) for r in rows[tenant]} == {1}, tenant
    assert stats["duplicates"].get("aliyun_sms", 0) == 0 and stats["duplicates"].get("webhook_sms", 0) == 0
    # the kill did catch claims in flight: re-sent with their key, or looked up at Alibaba
    in_doubt = sum(
        stats[counter].get(provider, 0) - before[counter].get(provider, 0)
        for counter, provider in (("idempotent_replays", "webhook_sms"), ("lookups", "aliyun_sms"))
    )
    assert in_doubt > 0, "the kill caught no send in flight: this run proved nothing"
