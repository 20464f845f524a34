"""The contract fuzz through the REST gateway: every route of its routing table (compiled from the
services' `google.api.http` annotations, so a new route is covered by being annotated).

Each case fills the route's path variables with hostile segments (`%00`, `not-a-uuid`, SQL-ish
names, ...), adds query parameters and a JSON body built from the request descriptor (wrong
types, unknown enum names, NUL, 1 MB strings, invalid JSON), under a valid or invalid token in a
tenant of its own. Properties: never HTTP 500 and no server internals in the body; a refused
request (4xx/5xx) leaves the tenant without a row in the backend's database. Deterministic
(derandomized, no shrinking); `PEONY_FUZZ_GATEWAY_EXAMPLES` sets the cases per route.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import urllib.parse
import uuid

import pytest
from google.api import annotations_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.routing import Route, Variable, compile_routes
from tests.reliability.contract import LEAKS, TALLY, all_rpcs, metadata_for
from tests.reliability.strategies import BAD_IDS, HUGE_TEXT, NASTY_TEXT
from tests.unit.gateway.realroutes import available_services

pytestmark = pytest.mark.e2e

ROUTES = compile_routes(available_services()).routes
EXAMPLES = int(os.environ.get("PEONY_FUZZ_GATEWAY_EXAMPLES", "6"))
TOKENS = ("hq_admin", "hq_admin", "hq_admin", "front_desk@s1", "member-self", "none", "garbage", "expired")
_RUN = uuid.uuid4().hex[:6]
_tenants = itertools.count(1)

SEGMENTS = st.one_of(
    st.sampled_from((*BAD_IDS[:-3], "s1", "00000000-0000-0000-0000-000000000000", "名字", "a b", "%")),
    st.builds(lambda: str(uuid.uuid4())),
    st.text(min_size=1, max_size=12),
)

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(NASTY_TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
"""Any JSON at all: what a field of another type receives."""

_TIMESTAMPS = ("2024-13-45T00:00:00Z", "not-a-time", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "")


def _json_value(fd: FieldDescriptor, depth: int, top: bool) -> st.SearchStrategy:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        name = fd.message_type.full_name
        if name == "google.protobuf.Timestamp":
            single = st.sampled_from(_TIMESTAMPS)
        elif name == "google.protobuf.FieldMask":
            single = st.sampled_from(("", "a.b,c", "display_name", "\x00", "*"))
        elif name.startswith("google.protobuf.") or depth >= 3:
            single = JUNK
        else:
            single = json_object(fd.message_type, depth + 1)
    elif fd.type == FieldDescriptor.TYPE_ENUM:
        single = st.sampled_from((*(v.name for v in fd.enum_type.values), "NOT_AN_ENUM", 999, -1, ""))
    elif fd.type == FieldDescriptor.TYPE_STRING:
        single = st.sampled_from(NASTY_TEXT + ((HUGE_TEXT,) if top else ()))
    elif fd.type == FieldDescriptor.TYPE_BOOL:
        single = st.sampled_from((True, False, "yes", 1))
    elif fd.type == FieldDescriptor.TYPE_BYTES:
        single = st.sampled_from(("!!!not base64", "", "AA==", "\x00"))
    else:  # numbers: bounds, past the bounds, and numbers as odd strings
        single = st.sampled_from((0, -1, 2**31, 2**63, 2**70, -(2**70), 1.5, "12abc", "1e400", "NaN", ""))
    if fd.is_repeated:
        return st.one_of(st.lists(single, max_size=3), JUNK)
    return st.one_of(single, single, single, JUNK)


@st.composite
def json_object(draw, desc: Descriptor, depth: int = 0) -> dict:
    fields = draw(st.lists(st.sampled_from(list(desc.fields)), unique_by=lambda f: f.number, max_size=5))
    return {fd.json_name: draw(_json_value(fd, depth, depth == 0)) for fd in fields}


def _path(route: Route, draw) -> str:
    parts = []
    for item in route.template.items:
        segments = item.segments if isinstance(item, Variable) else (item,)
        for seg in segments:
            value = draw(SEGMENTS) if seg in ("*", "**") else seg
            parts.append(urllib.parse.quote(value, safe=""))
    return "/" + "/".join(parts) + (f":{route.template.verb}" if route.template.verb else "")


def _body_message(route: Route) -> Descriptor | None:
    if route.body == "*":
        return route.method.input_type
    field = route.body_field
    if field is not None and field.message_type is not None:
        return field.message_type
    return None


@st.composite
def http_case(draw, route: Route) -> tuple[str, bytes | None]:
    path = _path(route, draw)
    query_fields = [f for f in route.method.input_type.fields if f.type != FieldDescriptor.TYPE_MESSAGE]
    if query_fields and route.body != "*" and draw(st.booleans()):
        params = {}
        for fd in draw(st.lists(st.sampled_from(query_fields), unique_by=lambda f: f.number, max_size=3)):
            params[fd.json_name] = str(draw(_json_value(fd, 1, False)))
        path += "?" + urllib.parse.urlencode(params)
    body = None
    if route.body:
        desc = _body_message(route)
        choice = draw(st.integers(0, 5))
        if choice == 0:
            body = draw(st.sampled_from((b"{", b"not json", b"[]", b"null", b'"\\u0000"', b"\xff\xfe")))
        elif desc is not None:
            body = json.dumps(draw(json_object(desc))).encode()
        else:
            body = json.dumps(draw(JUNK)).encode()
    return path, body


def request(base: str, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, str]:
    host = urllib.parse.urlsplit(base).netloc
    conn = http.client.HTTPConnection(host, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.http_method} {r.template.source}")
def test_route_never_500s(platform, route: Route):
    key = f"{route.http_method} {route.template.source}"
    TALLY.routes.add(key)
    problems: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(token=st.sampled_from(TOKENS), case=http_case(route))
    def fuzz(token: str, case: tuple[str, bytes | None]) -> None:
        path, body = case
        tenant = f"gz-{_RUN}-{next(_tenants)}"
        headers = dict(metadata_for(token, tenant))
        headers = {"Authorization": headers["authorization"]} if headers else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        status, text = request(platform.gateway_url, route.http_method, path, body, headers)
        TALLY.http_cases += 1
        found = []
        if status == 500:
            TALLY.http_500 += 1
            found.append("HTTP 500")
        if any(leak in text for leak in LEAKS):
            found.append("server internals in the body")
        if status >= 400 and token not in ("none", "garbage"):
            written = platform.dbs.rows_of(route.backend, tenant)
            if written:
                TALLY.writes_on_refusal += 1
                found.append(f"refused but wrote {written}")
        if found:
            shown = (body or b"")[:200]
            problems.append(
                f"{route.http_method} {path[:200]} [{token}] body={shown!r}"
                f" -> {status} {text[:200]}: {'; '.join(found)}"
            )

    fuzz()
    assert not problems, f"{len(problems)} broken case(s) of {key}:\n" + "\n".join(problems)


def test_the_gateway_fuzz_covers_every_route():
    """Every RPC with a `google.api.http` annotation is reachable through a fuzzed route."""
    annotated = {rpc.path for rpc in all_rpcs() if rpc.method.GetOptions().HasExtension(annotations_pb2.http)}
    assert len(annotated) >= 130
    assert {r.grpc_path for r in ROUTES} == annotated
