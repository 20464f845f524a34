"""kit.ids: resource names whose ids are UUIDs are parsed as such, so a malformed one never
reaches a PostgreSQL uuid column."""

from __future__ import annotations

import uuid

import pytest

from kit.ids import is_uuid, parse_name, parse_path

U = "0190a3f2-7c1e-7000-8000-00000000abcd"


def test_parse_name_with_uuid_ids():
    assert parse_name(f"members/{U}", "members", uuid=True) == U
    assert parse_name(f"members/{U.upper()}", "members", uuid=True) == U  # canonical lower case
    for bad in ("members/not-a-uuid", "members/\x00", f"members/{U}x", f"members/{{{U}}}", "members/", U):
        assert parse_name(bad, "members", uuid=True) is None, bad
    assert parse_name("members/m1", "members") == "m1"  # text ids are unchanged


def test_parse_path_templates():
    card = str(uuid.uuid4())
    assert parse_path(f"members/{U}/cards/{card}", "members/{uuid}/cards/{uuid}") == (U, card)
    assert parse_path("stores/s1/staff/ann", "stores/{id}/staff/{id}") == ("s1", "ann")
    for bad in (
        f"members/{U}/cards/not-a-uuid",
        f"members/x/cards/{card}",
        f"members/{U}/packages/{card}",
        f"members/{U}/cards/{card}/extra",
        f"members/{U}/cards/",
    ):
        assert parse_path(bad, "members/{uuid}/cards/{uuid}") is None, bad
    assert parse_path("stores//staff/ann", "stores/{id}/staff/{id}") is None
    assert is_uuid(U) and not is_uuid("0190a3f27c1e70008000 00000000abcd")


def test_a_client_chosen_id_is_refused_with_the_rule_it_broke() -> None:
    from kit.errors import InvalidArgument
    from kit.ids import RESOURCE_ID_RULE, is_resource_id
    from services.booking.entrypoints.grpc_common import child_id

    # The rule is what is_resource_id enforces: up to 63 characters (not 40), no leading '-'.
    assert "63" in RESOURCE_ID_RULE
    assert is_resource_id("a" * 63) and not is_resource_id("a" * 64) and not is_resource_id("-a")
    assert child_id("a" * 50, "service_id") == "a" * 50
    with pytest.raises(InvalidArgument) as refused:
        child_id("a" * 64, "service_id")
    assert refused.value.violations == [("service_id", RESOURCE_ID_RULE)]
