"""Contract fuzz over every RPC of every service (enumerated from the generated descriptors).

For each RPC, hypothesis builds requests from the request descriptor (see strategies.py) and
sends them with valid and invalid tokens, plus undecodable bodies over a raw channel. Properties:

- the status is never INTERNAL or UNKNOWN, and no server-side exception text reaches the client;
- the service process survives and still answers its health check;
- a refused request writes nothing: each case runs in a tenant of its own, so after a refusal
  that tenant must own no row in any table of the service's database (exact `count(*)`s, not
  statistics).

Failures name the RPC, the token, the input and the status. Run with `-p no:randomly`-style
determinism: hypothesis is derandomized and does not shrink (each example costs a round trip);
`PEONY_FUZZ_EXAMPLES` raises the examples per RPC for a longer local run.
"""

from __future__ import annotations

import itertools
import os
import uuid

import grpc
import pytest
from google.protobuf import text_format
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
    healthy,
    metadata_for,
    rpc_count,
)
from tests.reliability.strategies import RAW_BODIES, message

pytestmark = pytest.mark.e2e

RPCS = all_rpcs()
EXAMPLES = int(os.environ.get("PEONY_FUZZ_EXAMPLES", "25"))
TOKEN_MIX = ("hq_admin",) * 4 + VALID_TOKENS[1:] + INVALID_TOKENS
_RUN = uuid.uuid4().hex[:6]
_tenants = itertools.count(1)

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
    return (text[:300] + f"... ({len(body)} bytes)") if len(text) > 300 else (text or "<empty message>")


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


@pytest.mark.parametrize("rpc", RPCS, ids=lambda r: r.id)
def test_rpc_contract_under_hostile_input(platform, rpc: Rpc):
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

    process = platform.process(rpc.service)
    assert process.proc.poll() is None, f"{rpc.service} died fuzzing {rpc.id}:\n{process.log_tail()}"
    assert healthy(platform.channels[rpc.service]), f"{rpc.service} unhealthy after fuzzing {rpc.id}"
    assert not problems, f"{len(problems)} broken case(s) of {rpc.id}:\n" + "\n".join(problems)


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
