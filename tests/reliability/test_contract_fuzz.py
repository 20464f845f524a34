"""Contract fuzz over every RPC of every service (enumerated from the generated descriptors).

For each RPC, hypothesis builds requests from the request descriptor (see strategies.py) and
sends them with valid and invalid tokens, plus undecodable bodies over a raw channel. Properties:

- the status is never INTERNAL or UNKNOWN, and no server-side exception text reaches the client;
- the service process survives and still answers its health check;
- a refused request writes nothing: each case runs in a tenant of its own, so after a refusal
  that tenant must own no row in any table of the service's database (exact `count(*)`s, not
  statistics).

Next to the random cases, a deterministic sweep per RPC on a tenant with real data (world.py),
so the classic defects are found on every run whatever hypothesis draws: in an otherwise
plausible request, one field at a time made hostile: every reference field set to malformed
names in its own pattern (`members/not-a-uuid`, `%00`, NUL, `s1' OR '1'='1`), every string field
(nested ones too) holding a NUL, every Timestamp out of range. There a refusal must leave the
tenant's rows exactly as they were (row hashes).

Failures name the RPC, the token, the input and the status (similar ones grouped). Runs are
deterministic: hypothesis is derandomized and does not shrink (each example costs a round trip);
`PEONY_FUZZ_EXAMPLES` raises the examples per RPC for a longer local run.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections import defaultdict

import grpc
import pytest
from google.api import field_behavior_pb2
from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.reliability.contract import (
    INVALID_TOKENS,
    LEAKS,
    TALLY,
    VALID_TOKENS,
    Rpc,
    all_rpcs,
    call,
    changed,
    fill_pattern,
    healthy,
    metadata_for,
    patterns_for,
    rpc_count,
)
from tests.reliability.strategies import BAD_IDS, RAW_BODIES, message
from tests.reliability.world import World, plausible, seed_world, settle

pytestmark = pytest.mark.e2e

RPCS = all_rpcs()
EXAMPLES = int(os.environ.get("PEONY_FUZZ_EXAMPLES", "8"))
TOKEN_MIX = ("hq_admin",) * 4 + VALID_TOKENS[1:] + INVALID_TOKENS
_RUN = uuid.uuid4().hex[:6]
_tenants = itertools.count(1)

COUNTED_REFUSALS = frozenset({"PIN_INCORRECT", "PIN_LOCKED"})
"""Refusals that must write: a wrong PIN from an authorized caller counts towards the lockout
(only that counter; the authorization matrix checks that unauthorized callers never reach it)."""

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example is a real round trip
    suppress_health_check=list(HealthCheck),
)


def describe(body: bytes, rpc: Rpc) -> str:
    """A short, readable rendering of a request body (long values cut)."""
    try:
        msg = rpc.request_class.FromString(body)
    except Exception:
        return f"raw bytes {body[:40]!r} ({len(body)} bytes)"
    text = text_format.MessageToString(msg, as_one_line=True, as_utf8=True)
    text = re.sub(r"(.)\1{30,}", lambda m: f"{m.group(1) * 3}…[x{len(m.group(0))}]", text)  # 1 MB values
    text = re.sub(r"(\S+ \{[^{}]*\} )\1{5,}", lambda m: f"{m.group(1)}…[repeated] ", text)  # 100k items
    return (text[:300] + f"… ({len(body)} bytes)") if len(text) > 300 else (text or "<empty message>")


def check_case(platform, rpc: Rpc, token: str, body: bytes) -> list[str]:
    """One request; the properties it broke (none when it held)."""
    tenant = f"fz-{_RUN}-{next(_tenants)}"
    outcome = call(platform.channels[rpc.service], rpc, body, metadata_for(token, tenant))
    TALLY.cases += 1
    problems = []
    if outcome.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        TALLY.internal += 1
        problems.append(f"{outcome.code.name}")
    elif any(leak in outcome.message for leak in LEAKS):
        problems.append("server internals in the status message")
    if not outcome.ok and token not in ("none", "garbage"):
        written = platform.dbs.rows_of(rpc.service, tenant)
        if written:
            TALLY.writes_on_refusal += 1
            problems.append(f"refused but wrote {written}")
    if problems:
        return [f"{rpc.id} [{token}] {describe(body, rpc)} -> {outcome}: {'; '.join(problems)}"]
    return []


def sweep_requests(rpc: Rpc, world: World) -> list[tuple[str, Message]]:
    """(what, request): the world's plausible request with one field made hostile: a reference
    malformed in its own pattern, a NUL in a string, a timestamp out of the representable range.
    (Integers at their bounds are left to hypothesis: swept, they found nothing and cost a
    settle per accepted case.)"""
    out = []

    def case(path: tuple, value: object, shown: str) -> None:
        msg = plausible(rpc, world)
        set_path(msg, path, value)
        out.append((f"{'.'.join(f.name for f in path)}={shown}", msg))

    for path, fd in leaf_fields(rpc.method.input_type):
        if fd.type == FieldDescriptor.TYPE_STRING:
            patterns = patterns_for(fd)
            for bad in BAD_IDS[:4] if patterns else ():
                value = fill_pattern(patterns[0], lambda _v, b=bad: b)
                case(path, value, repr(value))
            case(path, "a\x00b", "NUL")
        else:  # a google.protobuf.Timestamp
            for seconds, nanos in ((2**62, 0), (0, -1)):
                case(path, Timestamp(seconds=seconds, nanos=nanos), f"{{seconds: {seconds} nanos: {nanos}}}")
    return out


TIMESTAMP = "google.protobuf.Timestamp"


def leaf_fields(desc, depth: int = 0) -> list[tuple[tuple, object]]:
    """(field path, leaf field) of every string and Timestamp field, through singular messages
    up to depth 2; not the OUTPUT_ONLY ones, which the contract says a server ignores."""
    out = []
    for fd in desc.fields:
        if field_behavior_pb2.OUTPUT_ONLY in fd.GetOptions().Extensions[field_behavior_pb2.field_behavior]:
            continue
        singular_message = fd.type == FieldDescriptor.TYPE_MESSAGE and not fd.is_repeated
        if fd.type == FieldDescriptor.TYPE_STRING or (
            singular_message and fd.message_type.full_name == TIMESTAMP
        ):
            out.append(((fd,), fd))
        elif singular_message and depth < 2 and not fd.message_type.full_name.startswith("google."):
            out += [((fd, *path), leaf) for path, leaf in leaf_fields(fd.message_type, depth + 1)]
    return out


def set_path(msg: Message, path: tuple, value: object) -> None:
    for fd in path[:-1]:
        msg = getattr(msg, fd.name)
    leaf = path[-1]
    if leaf.is_repeated:
        getattr(msg, leaf.name).append(value)
    elif isinstance(value, Message):
        getattr(msg, leaf.name).CopyFrom(value)
    else:
        setattr(msg, leaf.name, value)


def check_sweep(platform, world: World, rpc: Rpc, what: str, msg: Message) -> list[str]:
    before = platform.dbs.fingerprint(rpc.service, world.tenant)
    outcome = call(platform.channels[rpc.service], rpc, msg.SerializeToString(), world.hq)
    TALLY.cases += 1
    problems = []
    if outcome.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        TALLY.internal += 1
        problems.append(outcome.code.name)
    elif any(leak in outcome.message for leak in LEAKS):
        problems.append("server internals in the status message")
    if outcome.ok:
        settle(platform, world, quiet=0.3)  # its effects (and events) must not count against the next case
    else:
        diff = changed(before, platform.dbs.fingerprint(rpc.service, world.tenant))
        if outcome.reason in COUNTED_REFUSALS and diff == ["payment_pins updated"]:
            diff = []
        if diff:
            TALLY.writes_on_refusal += 1
            problems.append(f"refused but wrote: {', '.join(diff)}")
    if problems:
        return [f"{rpc.id} [hq_admin, sweep] {what} -> {outcome}: {'; '.join(problems)}"]
    return []


def grouped(problems: list[str], shown: int = 4) -> str:
    """Problems grouped by status and complaint: a few inputs of each, and how many more."""
    groups: dict[str, list[str]] = defaultdict(list)
    for p in problems:
        groups[p.split(" -> ", 1)[-1]].append(p)
    out = []
    for items in groups.values():
        out += items[:shown]
        if len(items) > shown:
            out.append(f"    (+{len(items) - shown} more with the same status)")
    return "\n".join(out)


@pytest.fixture(scope="module")
def world(platform) -> World:
    return seed_world(platform, "fuzz")


@pytest.mark.parametrize("rpc", RPCS, ids=lambda r: r.id)
def test_rpc_contract_under_hostile_input(platform, world, rpc: Rpc):
    TALLY.rpcs.add(rpc.id)
    problems: list[str] = []
    request = message(rpc.method.input_type).map(lambda m: m.SerializeToString())

    @FUZZ_SETTINGS
    @given(token=st.sampled_from(TOKEN_MIX), body=st.one_of(request, request, request, RAW_BODIES))
    def fuzz(token: str, body: bytes) -> None:
        problems.extend(check_case(platform, rpc, token, body))

    fuzz()
    # The empty request under every kind of token (the first thing a new client sends).
    for token in VALID_TOKENS + INVALID_TOKENS:
        problems.extend(check_case(platform, rpc, token, b""))
    for what, msg in sweep_requests(rpc, world):
        problems.extend(check_sweep(platform, world, rpc, what, msg))

    process = platform.process(rpc.service)
    assert process.proc.poll() is None, f"{rpc.service} died fuzzing {rpc.id}:\n{process.log_tail()}"
    assert healthy(platform.channels[rpc.service]), f"{rpc.service} unhealthy after fuzzing {rpc.id}"
    assert not problems, f"{len(problems)} broken case(s) of {rpc.id}:\n" + grouped(problems)


def test_the_fuzz_covers_every_rpc(request):
    """A new RPC is in the descriptors, hence fuzzed; when the whole module ran (not `-k`), every
    RPC was actually exercised (this runs after the parametrized cases above)."""
    assert len(RPCS) == rpc_count() >= 135
    selected = {
        i.callspec.params["rpc"].id for i in request.session.items if i.name.startswith("test_rpc_contract")
    }
    assert TALLY.rpcs >= selected
    if selected:
        assert selected == {r.id for r in RPCS} or len(selected) < len(RPCS)
