"""kit.ids: resource names whose ids are UUIDs are parsed as such, so a malformed one never
reaches a PostgreSQL uuid column."""

from __future__ import annotations

import uuid

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
