from __future__ import annotations

import json

import pytest

from gateway.errors import GatewayError
from gateway.transcode import build_request, field_mask_paths, render_response, response_json


def _build(router, method, path, query=(), body=b""):
    found = router.match(method, path)
    assert found is not None
    return build_request(found.route, found.path_params, list(query), body)


def _violations(router, method, path, query=(), body=b""):
    with pytest.raises(GatewayError) as info:
        _build(router, method, path, query, body)
    err = info.value
    assert err.http_status == 400
    assert err.code.name == "INVALID_ARGUMENT"
    return dict(err.violations)


def test_query_scalars_repeated_nested_enums_wkt(router, proto):
    req = _build(
        router,
        "GET",
        "/v1/members",
        [
            ("pageSize", "10"),
            ("page_token", "tok"),
            ("tier", "TIER_GOLD"),
            ("tags", "a"),
            ("tags", "b"),
            ("active", "true"),
            ("minPoints", "12345678901234567"),
            ("filter.city", "Riga"),
            ("filter.postcode", "LV-1010"),
            ("createdAfter", "2024-01-01T00:00:00Z"),
            ("max_age", "5"),
            ("tiers", "1"),
            ("tiers", "TIER_GOLD"),
            ("minScore", "1.5"),
            ("cursor", "YWJj"),
        ],
    )
    pb2 = proto.pb2
    assert req.page_size == 10
    assert req.page_token == "tok"
    assert req.tier == pb2.TIER_GOLD
    assert list(req.tags) == ["a", "b"]
    assert req.active is True
    assert req.min_points == 12345678901234567
    assert req.filter.city == "Riga" and req.filter.postcode == "LV-1010"
    assert req.created_after.seconds == 1704067200
    assert req.max_age.value == 5
    assert list(req.tiers) == [pb2.TIER_SILVER, pb2.TIER_GOLD]
    assert req.min_score == 1.5
    assert req.cursor == b"abc"


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("FALSE", False), ("0", False)])
def test_query_bools(router, raw, expected):
    assert _build(router, "GET", "/v1/members", [("active", raw)]).active is expected


def test_query_enum_by_number(router, proto):
    assert _build(router, "GET", "/v1/members", [("tier", "2")]).tier == proto.pb2.TIER_GOLD


def test_query_violations_are_all_reported(router):
    v = _violations(
        router,
        "GET",
        "/v1/members",
        [
            ("pageSize", "ten"),
            ("bogus", "1"),
            ("tier", "TIER_PLATINUM"),
            ("active", "yes"),
            ("filter", "x"),
            ("filter.zip", "1"),
            ("minPoints", "1.5"),
            ("createdAfter", "yesterday"),
            ("pageToken", "a"),
            ("page_token", "b"),
        ],
    )
    assert v["pageSize"] == "expected an integer, got 'ten'"
    assert v["bogus"] == "unknown field"
    assert "TIER_PLATINUM" in v["tier"]
    assert "true or false" in v["active"]
    assert "sub-fields" in v["filter"]
    assert v["filter.zip"] == "unknown field"
    assert "minPoints" in v
    assert "createdAfter" in v
    assert "non-repeated" in v["pageToken"]


def test_query_cannot_traverse_scalars_or_wkts(router):
    v = _violations(router, "GET", "/v1/members", [("pageSize.x", "1"), ("createdAfter.seconds", "1")])
    assert set(v) == {"pageSize.x", "createdAfter.seconds"}


def test_path_variable_wins_and_body_field(router):
    req = _build(
        router,
        "PATCH",
        "/v1/members/m1",
        [("updateMask", "displayName,address.city")],
        b'{"name": "members/other", "displayName": "Ann", "points": "5", "address": {"city": "Riga"}}',
    )
    assert req.member.name == "members/m1"
    assert req.member.display_name == "Ann"
    assert req.member.points == 5
    assert req.member.address.city == "Riga"
    assert list(req.update_mask.paths) == ["display_name", "address.city"]


def test_update_mask_snake_case_in_query(router):
    req = _build(router, "PATCH", "/v1/members/m1", [("update_mask", "display_name,phone")], b"{}")
    assert list(req.update_mask.paths) == ["display_name", "phone"]


def test_field_mask_paths():
    assert field_mask_paths("displayName, address.postCode,,phone") == [
        "display_name",
        "address.post_code",
        "phone",
    ]


def test_body_original_field_names_accepted(router):
    req = _build(
        router,
        "PATCH",
        "/v1/members/m1",
        body=b'{"display_name": "Ann", "created_at": "2024-01-01T00:00:00Z"}',
    )
    assert req.member.display_name == "Ann"
    assert req.member.created_at.seconds == 1704067200


def test_query_field_bound_by_path_or_body_is_rejected(router):
    v = _violations(router, "PATCH", "/v1/members/m1", [("member.phone", "1"), ("member", "x")], b"{}")
    assert set(v) == {"member.phone", "member"}
    v = _violations(router, "GET", "/v1/members/m1", [("name", "members/x")])
    assert set(v) == {"name"}


def test_body_star_with_path_and_field_mask_in_body(router):
    req = _build(
        router,
        "POST",
        "/v1/members/m1:replace",
        body=b'{"member": {"displayName": "A", "tier": "TIER_SILVER"}, "updateMask": "displayName,tier"}',
    )
    assert req.name == "members/m1"
    assert req.member.display_name == "A"
    assert req.member.tier == 1
    assert list(req.update_mask.paths) == ["display_name", "tier"]


def test_body_star_rejects_query_params(router):
    assert "x" in _violations(router, "POST", "/v1/members/m1:replace", [("x", "1")], b"{}")


def test_body_star_empty_body_is_empty_message(router):
    req = _build(router, "POST", "/v1/members/m1/cards/c1:reportLost")
    assert req.name == "members/m1/cards/c1"
    assert req.reason == ""


def test_body_scalar_field(router):
    req = _build(router, "POST", "/v1/members/m1:addNote", body=b'"hello"')
    assert (req.name, req.note) == ("members/m1", "hello")
    assert _violations(router, "POST", "/v1/members/m1:addNote", body=b"5") == {"note": "expected a string"}


def test_body_field_with_query(router):
    req = _build(
        router,
        "POST",
        "/v1/members",
        [("memberId", "m-1"), ("validateOnly", "true")],
        b'{"displayName": "Ann", "tags": ["vip"]}',
    )
    assert req.member_id == "m-1" and req.validate_only
    assert req.member.display_name == "Ann" and list(req.member.tags) == ["vip"]


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        (b"{bad", "body", "malformed JSON"),
        (b"[1, 2]", "body", "JSON object"),
        (b'"str"', "body", "JSON object"),
        (b"\xff\xfe", "body", "UTF-8"),
        (b'{"a": 1, "a": 2}', "body", "duplicate key"),
        (b'{"member": {"points": NaN}}', "body", "NaN"),
        (b'{"nope": 1}', "nope", "unknown field"),
        (b'{"member": {"points": "abc"}}', "member.points", "expected an integer"),
        (b'{"member": {"points": true}}', "member.points", "expected an integer"),
        (b'{"member": {"tags": "x"}}', "member.tags", "[]"),
        (b'{"member": {"address": {"zip": 1}}}', "member.address.zip", "unknown field"),
        (b'{"member": {"createdAt": "yesterday"}}', "member.createdAt", "timestamp"),
        (b'{"member": {"tier": "TIER_X"}}', "member.tier", "TIER_X"),
        (b'{"updateMask": 5}', "updateMask", ""),
    ],
)
def test_body_violations(router, body, field, fragment):
    v = _violations(router, "POST", "/v1/members/m1:replace", body=body)
    assert field in v, v
    assert fragment in v[field]


def test_no_body_method_rejects_body(router):
    assert _violations(router, "GET", "/v1/members/m1", body=b'{"x": 1}') == {
        "body": "this method does not take a request body"
    }
    # whitespace only is no body
    assert _build(router, "GET", "/v1/members/m1", body=b"  \n").name == "members/m1"


def test_path_variable_type_errors(router):
    # PingRequest.word is a string: anything goes; a bad int path var would be a violation.
    assert _build(router, "GET", "/v1/ping/%C3%A9t%C3%A9").word == "été"


def test_render_response_lower_camel_int64_strings_enums_and_defaults(router, proto):
    route = router.match("GET", "/v1/members/m1").route
    msg = proto.pb2.Member(name="members/m1", display_name="Ann", points=12345678901234567, tier=2)
    msg.created_at.FromJsonString("2024-01-01T00:00:00Z")
    data = render_response(route, msg)
    assert data["name"] == "members/m1"
    assert data["displayName"] == "Ann"
    assert data["points"] == "12345678901234567"  # int64 as a string per the proto3 JSON mapping
    assert data["tier"] == "TIER_GOLD"
    assert data["createdAt"] == "2024-01-01T00:00:00Z"
    assert data["active"] is False and data["tags"] == [] and data["phone"] == ""  # stable shape
    assert "address" not in data  # unset message fields stay absent
    assert json.loads(response_json(data)) == data


def test_render_response_body_field(router, proto):
    route = router.match("GET", "/v1/tierLadder/names").route
    assert render_response(route, proto.pb2.TierLadder(name="x", tiers=["a", "b"])) == ["a", "b"]


def test_render_empty(router):
    from google.protobuf import empty_pb2

    route = router.match("DELETE", "/v1/members/m1").route
    assert render_response(route, empty_pb2.Empty()) == {}


def test_response_json_is_compact_utf8():
    assert response_json({"a": "é", "b": [1]}) == '{"a":"é","b":[1]}'.encode()
