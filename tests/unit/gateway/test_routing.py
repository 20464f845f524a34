from __future__ import annotations

import re

import pytest
from google.api import http_pb2

from gateway.routing import (
    MethodNotAllowed,
    RouteConfigError,
    Router,
    TemplateSyntaxError,
    Variable,
    compile_routes,
    parse_template,
)
from tests.unit.gateway.synth import make_service

# --------------------------------------------------------------------------------------------
# Template parsing


@pytest.mark.parametrize(
    ("source", "items", "verb"),
    [
        ("/v1/members", ("v1", "members"), None),
        ("/v1/{name=members/*}", ("v1", Variable(("name",), ("members", "*"))), None),
        ("/v1/{member.name=members/*}", ("v1", Variable(("member", "name"), ("members", "*"))), None),
        (
            "/v1/{name=members/*/cards/*}:reportLost",
            ("v1", Variable(("name",), ("members", "*", "cards", "*"))),
            "reportLost",
        ),
        ("/v1/{parent=members/*}/cards", ("v1", Variable(("parent",), ("members", "*")), "cards"), None),
        ("/v1/{name=tierLadder}", ("v1", Variable(("name",), ("tierLadder",))), None),
        ("/v1/members:findByPhone", ("v1", "members"), "findByPhone"),
        ("/v1/{id}", ("v1", Variable(("id",), ("*",))), None),
        ("/v1/{path=files/**}", ("v1", Variable(("path",), ("files", "**"))), None),
        ("/v1/{path=**}:download", ("v1", Variable(("path",), ("**",))), "download"),
        ("/v1/*/things", ("v1", "*", "things"), None),
        ("/v1/**", ("v1", "**"), None),
    ],
)
def test_parse_template(source, items, verb):
    t = parse_template(source)
    assert t.items == items
    assert t.verb == verb
    assert t.source == source


@pytest.mark.parametrize(
    "source",
    [
        "v1/members",  # no leading slash
        "/v1//members",  # empty segment
        "/v1/{name",  # unbalanced
        "/v1/name}",
        "/v1/{a={b}}",  # nested
        "/v1/{1abc}",  # bad identifier
        "/v1/{a..b}",
        "/v1/**/tail",  # ** not last
        "/v1/{a=**}/tail",
        "/v1/members:",  # empty verb
        "/v1/{a}/{a}",  # bound twice
        "/v1/x{a}",  # variable not a whole segment
    ],
)
def test_parse_template_rejects(source):
    with pytest.raises(TemplateSyntaxError):
        parse_template(source)


def test_variable_multi_segment_flag():
    assert not parse_template("/v1/{id}").variables[0].multi_segment
    assert parse_template("/v1/{n=a/*}").variables[0].multi_segment
    assert parse_template("/v1/{p=**}").variables[0].multi_segment


def test_regex_source_is_anchored_per_segment():
    t = parse_template("/v1/{name=members/*}/cards")
    rx = re.compile(t.regex_source(["g"]))
    assert rx.fullmatch("/v1/members/abc/cards").group("g") == "members/abc"
    assert rx.fullmatch("/v1/members/a/b/cards") is None
    assert rx.fullmatch("/v1/members//cards") is None


# --------------------------------------------------------------------------------------------
# Matching against the compiled test service


def _m(router: Router, method: str, path: str):
    found = router.match(method, path)
    assert found is not None, f"{method} {path} did not match"
    return found.route.method.name, found.route.path_template, found.path_params


@pytest.mark.parametrize(
    ("method", "path", "rpc", "template", "params"),
    [
        ("GET", "/v1/members/abc", "GetMember", "/v1/{name=members/*}", {"name": "members/abc"}),
        ("DELETE", "/v1/members/abc", "DeleteMember", "/v1/{name=members/*}", {"name": "members/abc"}),
        (
            "PATCH",
            "/v1/members/abc",
            "UpdateMember",
            "/v1/{member.name=members/*}",
            {"member.name": "members/abc"},
        ),
        ("GET", "/v1/members", "ListMembers", "/v1/members", {}),
        ("POST", "/v1/members", "CreateMember", "/v1/members", {}),
        (
            "GET",
            "/v1/salons/s1/members",
            "ListMembers",
            "/v1/{parent=salons/*}/members",
            {"parent": "salons/s1"},
        ),
        (
            "POST",
            "/v1/members/abc:replace",
            "ReplaceMember",
            "/v1/{name=members/*}:replace",
            {"name": "members/abc"},
        ),
        (
            "POST",
            "/v1/members/m1/cards/c9:reportLost",
            "ReportLostCard",
            "/v1/{name=members/*/cards/*}:reportLost",
            {"name": "members/m1/cards/c9"},
        ),
        (
            "GET",
            "/v1/members/m1/cards",
            "ListCards",
            "/v1/{parent=members/*}/cards",
            {"parent": "members/m1"},
        ),
        ("GET", "/v1/tierLadder", "GetTierLadder", "/v1/{name=tierLadder}", {"name": "tierLadder"}),
        ("GET", "/v1/tierLadder/names", "GetTierNames", "/v1/tierLadder/names", {}),
        ("GET", "/v1/members:findByPhone", "FindByPhone", "/v1/members:findByPhone", {}),
        ("POST", "/v1/members:findByPhone", "FindByPhone", "/v1/members:findByPhone", {}),
        ("GET", "/v1/files/a/b/c.txt", "GetFile", "/v1/{path=files/**}", {"path": "files/a/b/c.txt"}),
        ("GET", "/v1/files", "GetFile", "/v1/{path=files/**}", {"path": "files"}),
        (
            "GET",
            "/v1/files/a/b:download",
            "GetFile",
            "/v1/{path=files/**}:download",
            {"path": "files/a/b"},
        ),
        (
            "PUT",
            "/v1/members/m1/settings",
            "UpdateSettings",
            "/v1/{name=members/*}/settings",
            {"name": "members/m1"},
        ),
        ("PURGE", "/v1/cache/k1", "Purge", "/v1/cache/{key}", {"key": "k1"}),
        ("GET", "/v1/ping/hello", "Ping", "/v1/ping/{word}", {"word": "hello"}),
    ],
)
def test_match_binding_shapes(router, method, path, rpc, template, params):
    assert _m(router, method, path) == (rpc, template, params)


def test_custom_verb_vs_plain_resource(router):
    # The verb route wins for its method ...
    assert _m(router, "POST", "/v1/members/abc:replace")[0] == "ReplaceMember"
    assert _m(router, "POST", "/v1/members/abc:addNote")[0] == "AddNote"
    # ... the plain resource route still gets the plain path ...
    assert _m(router, "GET", "/v1/members/abc")[0] == "GetMember"
    # ... and a known verb on the wrong method is 405, not GetMember("members/abc:replace").
    with pytest.raises(MethodNotAllowed) as info:
        router.match("GET", "/v1/members/abc:replace")
    assert info.value.allowed == ("POST",)
    assert info.value.template == "/v1/{name=members/*}:replace"


def test_colon_in_id_without_known_verb_is_part_of_the_value(router):
    assert _m(router, "GET", "/v1/members/a:b")[2] == {"name": "members/a:b"}
    # a known verb on a path no verb route covers falls back to the plain routes
    assert _m(router, "GET", "/v1/members/x:findByPhone")[2] == {"name": "members/x:findByPhone"}


def test_verb_literal_collection(router):
    # "/v1/members:findByPhone" must not be taken for GetMember("members:findByPhone") etc.
    assert _m(router, "GET", "/v1/members:findByPhone")[0] == "FindByPhone"
    with pytest.raises(MethodNotAllowed) as info:
        router.match("DELETE", "/v1/members:findByPhone")
    assert info.value.allowed == ("GET", "POST")


def test_method_not_allowed_lists_methods(router):
    with pytest.raises(MethodNotAllowed) as info:
        router.match("POST", "/v1/members/abc")
    assert info.value.allowed == ("DELETE", "GET", "PATCH")
    assert info.value.template == "/v1/{name=members/*}"


@pytest.mark.parametrize(
    "path",
    [
        "/v2/members",
        "/v1/members/a/b",
        "/v1/members/",
        "/v1/members//x",
        "/v1/nothing",
        "/",
        "",
        "v1/members",
        "/v1/members/abc:unknownVerb/x",
        "/v1/members/a/cards/c:reportLost/x",
    ],
)
def test_no_match(router, path):
    assert router.match("GET", path) is None


def test_percent_decoding(router):
    # single-segment variable: fully decoded
    assert _m(router, "GET", "/v1/ping/a%20b%2Fc")[2] == {"word": "a b/c"}
    # multi-segment variable: decoded except %2F, and an encoded slash does not split segments
    assert _m(router, "GET", "/v1/members/a%2Fb%20c")[2] == {"name": "members/a%2Fb c"}
    assert _m(router, "GET", "/v1/files/x%2fy/z")[2] == {"path": "files/x%2Fy/z"}
    # an encoded colon is data, never a verb separator
    assert _m(router, "GET", "/v1/members/abc%3Areplace")[2] == {"name": "members/abc:replace"}


def test_invalid_utf8_in_path_variable(router):
    with pytest.raises(UnicodeDecodeError):
        router.match("GET", "/v1/ping/%ff")


def test_specificity_literal_beats_wildcard():
    svc = make_service(
        {
            "Any": http_pb2.HttpRule(get="/v1/{name=things/*}"),
            "Special": http_pb2.HttpRule(get="/v1/things/special"),
            "Deep": http_pb2.HttpRule(get="/v1/{name=things/**}"),
        }
    )
    router = compile_routes([(svc, "k")])
    assert router.match("GET", "/v1/things/special").route.method.name == "Special"
    assert router.match("GET", "/v1/things/other").route.method.name == "Any"
    assert router.match("GET", "/v1/things/a/b").route.method.name == "Deep"


def test_wildcard_first_segment_bucket():
    svc = make_service(
        {
            "Top": http_pb2.HttpRule(get="/{name=**}"),
            "V1": http_pb2.HttpRule(get="/v1/x"),
        }
    )
    router = compile_routes([(svc, "k")])
    assert router.match("GET", "/v1/x").route.method.name == "V1"
    found = router.match("GET", "/anything/at/all")
    assert found.route.method.name == "Top"
    assert found.path_params == {"name": "anything/at/all"}


def test_additional_bindings_and_unannotated_methods(router, proto):
    names = [(r.method.name, r.http_method, r.path_template) for r in router.routes]
    assert ("ListMembers", "GET", "/v1/members") in names
    assert ("ListMembers", "GET", "/v1/{parent=salons/*}/members") in names
    assert ("FindByPhone", "POST", "/v1/members:findByPhone") in names
    assert not any(n == "Internal" for n, _, _ in names)
    route = next(r for r in router.routes if r.method.name == "GetMember")
    assert route.grpc_path == "/gwtest.v1.MemberTestService/GetMember"
    assert route.backend == "members"
    assert route.request_class.DESCRIPTOR.full_name == "gwtest.v1.GetMemberRequest"
    assert route.response_class.DESCRIPTOR.full_name == "gwtest.v1.Member"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"A": http_pb2.HttpRule(get="/v1/{nope}")}, "has no field 'nope'"),
        ({"A": http_pb2.HttpRule(get="/v1/{inner}")}, "singular scalar"),
        ({"A": http_pb2.HttpRule(get="/v1/{tags}")}, "singular scalar"),
        ({"A": http_pb2.HttpRule(get="/v1/{name.x}")}, "not a message field"),
        ({"A": http_pb2.HttpRule(post="/v1/x", body="nope")}, "body field 'nope'"),
        ({"A": http_pb2.HttpRule(post="/v1/x", body="inner.id")}, "body field"),
        ({"A": http_pb2.HttpRule(get="/v1/x", response_body="nope")}, "response_body"),
        ({"A": http_pb2.HttpRule(get="v1/x")}, "must start with '/'"),
        ({"A": http_pb2.HttpRule()}, "no pattern"),
        ({"A": http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="bad kind", path="/x"))}, "custom"),
        (
            {"A": http_pb2.HttpRule(get="/v1/{name}"), "B": http_pb2.HttpRule(get="/v1/{count}")},
            "conflicts with",
        ),
        (
            {
                "A": http_pb2.HttpRule(
                    get="/v1/a",
                    additional_bindings=[
                        http_pb2.HttpRule(get="/v1/b", additional_bindings=[http_pb2.HttpRule(get="/v1/c")])
                    ],
                )
            },
            "nested additional_bindings",
        ),
    ],
)
def test_route_config_errors(rules, message):
    svc = make_service(rules)
    with pytest.raises(RouteConfigError, match=re.escape(message)):
        compile_routes([(svc, "k")])


def test_nested_path_field_inside_body_field_is_allowed():
    svc = make_service({"A": http_pb2.HttpRule(patch="/v1/{inner.id=things/*}", body="inner")})
    router = compile_routes([(svc, "k")])
    assert router.match("PATCH", "/v1/things/1").path_params == {"inner.id": "things/1"}


def test_many_routes_match_quickly():
    rules = {f"M{i}": http_pb2.HttpRule(get=f"/v1/{{name=coll{i}/*}}/sub") for i in range(300)}
    router = compile_routes([(make_service(rules), "k")])
    found = router.match("GET", "/v1/coll299/x/sub")
    assert found.route.method.name == "M299"
    assert found.path_params == {"name": "coll299/x"}
