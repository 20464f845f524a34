"""The real Peony services' HttpRules compile, are unambiguous and route to themselves."""

from __future__ import annotations

import pytest

from gateway.routing import compile_routes
from gateway.services import EXPOSED_SERVICES, load_services
from tests.unit.gateway.realroutes import available_services, sample_path

SERVICES = available_services()


def test_every_exposed_service_has_its_generated_code():
    assert [s.full_name for s, _ in SERVICES] == [e.full_name for e in EXPOSED_SERVICES]


def test_registry_names_are_unique():
    names = [e.full_name for e in EXPOSED_SERVICES]
    assert len(names) == len(set(names))


def test_real_routes_compile_without_conflicts():
    router = compile_routes(SERVICES)
    assert router.routes, "registered services have no google.api.http annotations"
    for service, _ in SERVICES:
        unary = [m for m in service.methods if not (m.client_streaming or m.server_streaming)]
        routed = {r.method.full_name for r in router.routes}
        missing = [m.full_name for m in unary if m.full_name not in routed]
        # Unannotated methods are legitimately internal; report them so the list stays deliberate.
        print(f"{service.full_name}: {len(unary) - len(missing)} routed, unannotated: {missing}")


def test_every_real_route_matches_its_own_sample_path():
    router = compile_routes(SERVICES)
    for route in router.routes:
        sample = sample_path(route)
        found = router.match(route.http_method, sample.path)
        assert found is not None, f"{route} does not match {sample.path}"
        assert found.route.method.full_name == route.method.full_name, (route, sample.path, found.route)
        assert found.path_params == sample.expected, (route, sample.path)


def test_load_services_non_strict_reports_missing():
    found, missing = load_services(EXPOSED_SERVICES, strict=False)
    assert len(found) + len(missing) == len(EXPOSED_SERVICES)
    assert {s.full_name for s, _ in found} == {s.full_name for s, _ in SERVICES}


@pytest.fixture(scope="module")
def members_router():
    pytest.importorskip("peony.members.v1.members_service_pb2")
    return compile_routes([s for s in SERVICES if s[1] == "members"])


def test_members_update_with_mask_and_path_name(members_router):
    from gateway.transcode import build_request

    found = members_router.match("PATCH", "/v1/members/m-1")
    assert found.route.method.name == "UpdateMember"
    req = build_request(
        found.route,
        found.path_params,
        [("updateMask", "email,consent.marketingSms")],
        b'{"name": "members/ignored", "email": "a@example.com", "displayName": "Ann"}',
    )
    assert req.member.name == "members/m-1"
    assert req.member.email == "a@example.com"
    assert list(req.update_mask.paths) == ["email", "consent.marketing_sms"]


def test_members_custom_verbs_do_not_shadow_get(members_router):
    assert members_router.match("GET", "/v1/members/m-1").route.method.name == "GetMember"
    assert members_router.match("POST", "/v1/members/m-1:setTier").route.method.name == "SetMemberTier"
    assert members_router.match("POST", "/v1/members:findByPhone").route.method.name == "FindMemberByPhone"
    assert (
        members_router.match("GET", "/v1/members:findByCardNumber").route.method.name
        == "FindMemberByCardNumber"
    )
    assert (
        members_router.match("POST", "/v1/members/m/cards/c:reportLost").route.method.name == "ReportCardLost"
    )
    assert members_router.match("POST", "/v1/members/m/cards/c:replace").route.method.name == "ReplaceCard"
    assert members_router.match("POST", "/v1/members/m/cards").route.method.name == "IssueCard"
    assert members_router.match("GET", "/v1/members/m/cards").route.method.name == "ListCards"
    assert members_router.match("GET", "/v1/tierLadder").route.method.name == "GetTierLadder"
    assert members_router.match("PATCH", "/v1/tierLadder").route.method.name == "UpdateTierLadder"


def test_members_list_query(members_router):
    from gateway.errors import GatewayError
    from gateway.transcode import build_request

    found = members_router.match("GET", "/v1/members")
    req = build_request(found.route, {}, [("pageSize", "20"), ("home_store", "stores/s1")], b"")
    assert (req.page_size, req.home_store) == (20, "stores/s1")
    with pytest.raises(GatewayError) as info:
        build_request(found.route, {}, [("pageSize", "many"), ("nope", "1")], b"")
    assert {f for f, _ in info.value.violations} == {"pageSize", "nope"}
