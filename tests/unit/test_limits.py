"""kit.limits: field limits read from the descriptors, one violation per problem, with its path."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from peony.booking.v1 import booking_service_pb2
from peony.members.v1 import member_pb2, members_service_pb2
from peony.notify.v1 import notify_service_pb2
from peony.wallet.v1 import checkout_pb2, wallet_service_pb2

from kit import limits
from kit.errors import InvalidArgument

SERVICES = [
    members_service_pb2.DESCRIPTOR.services_by_name["MembersService"],
    wallet_service_pb2.DESCRIPTOR.services_by_name["WalletService"],
    booking_service_pb2.DESCRIPTOR.services_by_name["BookingService"],
    notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"],
]


def _bounded_fields(descriptor: Descriptor, seen: set[str]):
    if descriptor.full_name in seen:
        return
    seen.add(descriptor.full_name)
    table = limits.field_limits(descriptor)
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            if field.is_repeated:
                yield descriptor.full_name, field, table.get(field.name)
            yield from _bounded_fields(field.message_type, seen)
        elif field.is_repeated or field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            yield descriptor.full_name, field, table.get(field.name)


def test_every_string_and_list_of_every_request_is_bounded():
    seen: set[str] = set()
    checked = 0
    for service in SERVICES:
        for method in service.methods:
            for owner, field, limit in _bounded_fields(method.input_type, seen):
                checked += 1
                assert limit is not None, f"{owner}.{field.name} has no limit"
                if field.is_repeated:
                    assert limit.max_items, f"{owner}.{field.name}"
                if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
                    assert limit.max_length, f"{owner}.{field.name}"
    assert checked > 300


def test_annotations_and_defaults_are_read_from_the_descriptor():
    line = limits.field_limits(checkout_pb2.CheckoutLine.DESCRIPTOR)
    assert line["display_name"].max_length == 200 and line["display_name"].text
    assert line["item"].max_length == limits.DEFAULT_MAX_LENGTH
    assert "quantity" not in line
    member = limits.field_limits(member_pb2.Member.DESCRIPTOR)
    assert (member["tags"].max_items, member["tags"].max_length) == (50, 40)
    attrs = member["custom_attributes"]
    assert (attrs.max_items, attrs.max_length, attrs.key_max_length) == (50, 500, limits.DEFAULT_MAX_LENGTH)
    request = limits.field_limits(wallet_service_pb2.CheckoutRequest.DESCRIPTOR)
    assert request["lines"].max_items == limits.DEFAULT_MAX_ITEMS and request["lines"].max_length is None


def test_violations_name_each_field_with_its_path():
    request = wallet_service_pb2.CheckoutRequest(
        member="members/m",
        lines=[
            checkout_pb2.CheckoutLine(item="services/a", display_name="Facial"),
            checkout_pb2.CheckoutLine(item="services/b", display_name="y" * 201),
            checkout_pb2.CheckoutLine(item="s" * 257, category="ok\tfine\nhere", staff_position="a\x00b"),
        ],
        vouchers=["v1", "v\x1b2"],
    )
    assert limits.violations(request) == [
        ("lines[1].display_name", "must be at most 200 characters"),
        ("lines[2].item", "must be at most 256 characters"),
        ("lines[2].staff_position", limits.CONTROL_DESCRIPTION),
        ("vouchers[1]", limits.CONTROL_DESCRIPTION),
    ]


def test_lists_maps_and_nested_messages():
    member = member_pb2.Member(
        tags=["t"] * 51,
        custom_attributes={"colour": "v" * 501, "ok": "fine"},
        care_profile=member_pb2.CareProfile(allergies=["a" * 201]),
    )
    assert limits.violations(members_service_pb2.RegisterMemberRequest(member=member)) == [
        ("member.tags", "must have at most 50 items"),
        ("member.custom_attributes[colour]", "must be at most 500 characters"),
        ("member.care_profile.allergies[0]", "must be at most 200 characters"),
    ]
    bad_key = member_pb2.Member(custom_attributes={"k\x00": "v"})
    assert limits.violations(members_service_pb2.RegisterMemberRequest(member=bad_key)) == [
        ("member.custom_attributes", "keys " + limits.CONTROL_DESCRIPTION)
    ]
    # A well-known type's strings are bounded too: update_mask.paths.
    update = members_service_pb2.UpdateMemberRequest()
    update.update_mask.paths.extend(["display_name"] * 101)
    assert limits.violations(update) == [("update_mask.paths", "must have at most 100 items")]


def test_validate_raises_invalid_argument_with_a_bounded_number_of_violations():
    request = wallet_service_pb2.CheckoutRequest(
        lines=[checkout_pb2.CheckoutLine(item="\x00") for _ in range(100)]
    )
    with pytest.raises(InvalidArgument) as err:
        limits.validate(request)
    assert err.value.reason == "INVALID_ARGUMENT"
    assert len(err.value.violations) == limits.MAX_VIOLATIONS + 1
    limits.validate(wallet_service_pb2.CheckoutRequest(member="members/m"))  # a sane request passes


def test_timestamps_outside_their_documented_range_are_refused() -> None:
    request = wallet_service_pb2.ListTransactionsRequest(parent="members/x")
    request.start_time.seconds = 1 << 62  # datetime (and PostgreSQL) cannot hold it: was INTERNAL
    assert [f for f, _ in limits.violations(request)] == ["start_time"]
    request.start_time.seconds, request.start_time.nanos = 0, -1
    assert [f for f, _ in limits.violations(request)] == ["start_time"]
    request.start_time.seconds, request.start_time.nanos = 253_402_300_799, 999_999_999
    assert limits.violations(request) == []  # 9999-12-31T23:59:59.999999999Z is the last valid instant
