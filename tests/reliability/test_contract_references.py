"""Reference properties of the contract, on a tenant with real data (world.py).

- A key mutation whose one reference (store, member, staff, service, product, ...) names
  something that does not exist is refused (NOT_FOUND / INVALID_ARGUMENT / FAILED_PRECONDITION)
  and writes nothing, while the same request with the real reference is accepted. (Issue 9,
  example 3: money recorded against `stores/no-such-store`.) The reference fields are those the
  proto annotates with `google.api.resource_reference`, so a new reference field is covered.
- A read of an unknown member is NOT_FOUND, never an invented answer (example 7), for every read
  RPC whose request names one member.
- A duplicate request id replays the original response only to a caller allowed to make the
  call: a replay is authorized like the first call.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tests.reliability.contract import (
    TALLY,
    Rpc,
    all_rpcs,
    call,
    changed,
    fill_pattern,
    patterns_for,
)
from tests.reliability.test_authz_matrix import COLUMNS, DENY, MATRIX, OTHER_MEMBER, expected
from tests.reliability.world import World, plausible, seed_world, settle, valid_mutations

pytestmark = pytest.mark.e2e

RPCS = {rpc.id: rpc for rpc in all_rpcs()}
REFUSED_FOR_A_BAD_REFERENCE = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
)


@pytest.fixture(scope="module")
def world(platform) -> World:
    return seed_world(platform, "refs")


def reference_slots(msg: Message, prefix: str = "") -> list[tuple[str, FieldDescriptor, Message, int | None]]:
    """(path, field, holder, index) of every set reference field of `msg` and of the messages it
    holds (the first item of repeated ones)."""
    out = []
    for fd, value in msg.ListFields():
        path = f"{prefix}{fd.name}"
        if fd.type == FieldDescriptor.TYPE_STRING and patterns_for(fd):
            out.append((path, fd, msg, 0 if fd.is_repeated else None))
        elif fd.type == FieldDescriptor.TYPE_MESSAGE and not fd.message_type.GetOptions().map_entry:
            first = value[0] if fd.is_repeated else value
            out += reference_slots(first, f"{path}{'[0]' if fd.is_repeated else ''}.")
    return out


def _set(holder: Message, fd: FieldDescriptor, index: int | None, value: str) -> None:
    if index is None:
        setattr(holder, fd.name, value)
    else:
        getattr(holder, fd.name)[index] = value


def _bad_names(fd: FieldDescriptor) -> list[str]:
    """Well-formed names of things that do not exist, and an injection-shaped one."""
    pattern = patterns_for(fd)[0]
    return [
        fill_pattern(pattern, lambda _v: str(uuid.uuid4())),
        fill_pattern(pattern, lambda v: "no-such-" + v.replace("_", "-")),
        fill_pattern(pattern, lambda _v: "s1' OR '1'='1"),
    ]


KEY_MUTATIONS = sorted(valid_mutations(World(tenant="")))


@pytest.mark.parametrize("rpc_id", KEY_MUTATIONS)
def test_an_unknown_reference_is_refused_and_writes_nothing(platform, world, rpc_id):
    rpc = RPCS[rpc_id]
    build = valid_mutations(world)[rpc_id]
    channel = platform.channels[rpc.service]
    accepted = call(channel, rpc, build().SerializeToString(), world.hq)
    assert accepted.ok, f"the valid {rpc_id} request was refused, so this check proves nothing: {accepted}"
    settle(platform, world)
    problems = []
    for path, fd, _holder, _index in reference_slots(build()):
        for bad in _bad_names(fd):
            msg = build()
            slot = next(s for s in reference_slots(msg) if s[0] == path)
            _set(slot[2], slot[1], slot[3], bad)
            before = platform.dbs.fingerprint(rpc.service, world.tenant)
            outcome = call(channel, rpc, msg.SerializeToString(), world.hq)
            TALLY.references += 1
            TALLY.cases += 1
            if outcome.code not in REFUSED_FOR_A_BAD_REFERENCE:
                problems.append(
                    f"{rpc_id} with {path}={bad!r} -> {outcome} (expected NOT_FOUND/INVALID_ARGUMENT)"
                )
            if outcome.ok:
                settle(platform, world)  # its events must not count against the next case
                continue
            diff = changed(before, platform.dbs.fingerprint(rpc.service, world.tenant))
            if diff:
                TALLY.writes_on_refusal += 1
                problems.append(f"{rpc_id} with {path}={bad!r} -> {outcome} but wrote: {', '.join(diff)}")
    assert not problems, f"{len(problems)} unknown reference(s) not refused cleanly:\n" + "\n".join(problems)


def _single_member_reads() -> list[Rpc]:
    """Reads whose request names exactly one member (a required `members/{member}...` name with
    no other variable)."""

    def names_one_member(fd: FieldDescriptor) -> bool:
        patterns = patterns_for(fd)
        return bool(patterns) and patterns[0].startswith("members/{member}") and patterns[0].count("{") == 1

    return [
        rpc
        for rpc in all_rpcs()
        if rpc.is_read
        and any(fd.name in ("name", "parent") and names_one_member(fd) for fd in rpc.method.input_type.fields)
    ]


MEMBER_READS = _single_member_reads()


def test_member_reads_are_found_from_the_descriptors():
    assert len(MEMBER_READS) >= 8, [r.id for r in MEMBER_READS]


@pytest.mark.parametrize("rpc", MEMBER_READS, ids=lambda r: r.id)
def test_a_read_of_an_unknown_member_is_not_found(platform, world, rpc: Rpc):
    channel = platform.channels[rpc.service]
    known = call(channel, rpc, plausible(rpc, world).SerializeToString(), world.hq)
    assert known.code != grpc.StatusCode.NOT_FOUND, f"{rpc.id} of the world's own member: {known}"
    problems = []
    for member, allowed in (
        (str(uuid.uuid4()), (grpc.StatusCode.NOT_FOUND,)),
        ("not-a-uuid", (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)),
    ):
        stranger = World(tenant=world.tenant, ids={**world.ids, "members": member})
        request = plausible(rpc, stranger)
        outcome = call(channel, rpc, request.SerializeToString(), world.hq)
        TALLY.references += 1
        TALLY.cases += 1
        if outcome.code not in allowed:
            wanted = "/".join(c.name for c in allowed)
            problems.append(f"{rpc.id} of members/{member} -> {outcome} (expected {wanted})")
    assert not problems, "\n".join(problems)


def test_a_replayed_request_id_is_authorized_like_the_first_call(platform, world):
    """Every mutation the world accepts from hq_admin, replayed byte for byte (same request id)
    by a caller the matrix denies: PERMISSION_DENIED, not the stored response."""
    replayed, problems = 0, []
    for rpc in all_rpcs():
        if (
            expected(MATRIX[rpc.id], OTHER_MEMBER) != DENY
            or "request_id" not in rpc.method.input_type.fields_by_name
        ):
            continue
        body = plausible(rpc, world).SerializeToString()
        channel = platform.channels[rpc.service]
        if not call(channel, rpc, body, world.hq).ok:
            continue
        replayed += 1
        outcome = call(channel, rpc, body, COLUMNS[OTHER_MEMBER](world))
        if outcome.code != grpc.StatusCode.PERMISSION_DENIED:
            problems.append(f"{rpc.id} replayed by {OTHER_MEMBER} -> {outcome}")
    assert replayed >= 3, "too few mutations accepted to test replays"
    assert not problems, f"{len(problems)} replay(s) served to a caller who may not call:\n" + "\n".join(
        problems
    )
