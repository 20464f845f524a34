"""Availability engine: shifts, breaks, leave, buffers, busy resources, back to back, DST."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.errors import InvalidArgument
from services.booking.domain.availability import (
    Slot,
    find_slots,
    local_to_utc,
    wall_exists,
)
from services.booking.domain.schedule import (
    Busy,
    Equipment,
    Room,
    ScheduleException,
    Service,
    Staff,
    WeeklyHours,
)

NY = "America/New_York"
SH = "Asia/Shanghai"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
MONDAY = date(2026, 6, 1)  # a Monday; Shanghai has no DST, New York is on EDT


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def staff(sid: str, hours=(("09:00", "18:00"),), skills=("facial", "massage"), exceptions=()) -> Staff:
    return Staff(sid, frozenset(skills), WeeklyHours.uniform(hours), tuple(exceptions))


FACIAL = Service("facial", 60, skill="facial")


def slots_on(day: date, tz: str = SH, **kwargs) -> list[Slot]:
    kwargs.setdefault("services", [FACIAL])
    kwargs.setdefault("staff", [staff("s1")])
    kwargs.setdefault("now", LONG_AGO)
    return find_slots(tz=tz, start_date=day, end_date=day, **kwargs)


def locals_(slots: list[Slot]) -> list[str]:
    return [s.local_start[11:] for s in slots]


# --- basics ---------------------------------------------------------------------------------------


def test_basic_day_in_shanghai_is_utc_plus_8():
    slots = slots_on(MONDAY)
    assert len(slots) == 33  # 09:00 .. 17:00 every 15 minutes
    first, last = slots[0], slots[-1]
    assert first.local_start == "2026-06-01T09:00" and first.start_utc == z(2026, 6, 1, 1)
    assert first.end_utc == z(2026, 6, 1, 2) and first.tz == SH
    assert last.local_start == "2026-06-01T17:00" and last.end_utc == z(2026, 6, 1, 10)
    assert first.start_utc.tzinfo is UTC
    a = first.assignments[0]
    assert (a.service_id, a.staff_id, a.room_id, a.equipment_id) == ("facial", "s1", None, None)


def test_shanghai_every_day_is_plus_8_across_us_dst_dates():
    for day in (date(2026, 3, 8), date(2026, 11, 1), date(2026, 1, 15), date(2026, 7, 15)):
        first = slots_on(day)[0]
        assert first.local_start == f"{day.isoformat()}T09:00"
        assert first.start_utc == datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=1)


def test_step_alignment_is_local_and_configurable():
    slots = slots_on(MONDAY, step_minutes=40)
    assert locals_(slots)[:3] == ["09:20", "10:00", "10:40"]  # counted from local midnight
    for s in slots:
        hh, mm = int(s.local_start[11:13]), int(s.local_start[14:])
        assert (hh * 60 + mm) % 40 == 0


def test_buffers_must_fit_in_working_hours():
    service = Service("facial", 60, buffer_before_minutes=10, buffer_after_minutes=20, skill="facial")
    slots = slots_on(MONDAY, services=[service])
    # 10 min before 09:00 is not working time -> 09:15 first; 60 + 20 after must end by 18:00
    assert locals_(slots)[0] == "09:15" and locals_(slots)[-1] == "16:30"
    a = slots[0].assignments[0]
    assert a.reserved_start_utc == a.start_utc - timedelta(minutes=10)
    assert a.reserved_end_utc == a.end_utc + timedelta(minutes=20)
    assert slots[0].end_utc - slots[0].start_utc == timedelta(minutes=60)


def test_breaks_are_gaps():
    member = staff("s1", hours=(("09:00", "12:00"), ("13:00", "18:00")))
    got = locals_(slots_on(MONDAY, staff=[member]))
    assert "11:00" in got and "11:15" not in got and "12:45" not in got and "13:00" in got


def test_leave_and_extra_shift():
    whole = staff("s1", exceptions=[ScheduleException.leave(MONDAY)])
    assert slots_on(MONDAY, staff=[whole]) == []
    part = staff("s1", exceptions=[ScheduleException.leave(MONDAY, "10:00", "16:00")])
    assert locals_(slots_on(MONDAY, staff=[part])) == ["09:00", "16:00", "16:15", "16:30", "16:45", "17:00"]
    extra = staff("s1", exceptions=[ScheduleException.extra_shift(MONDAY, "18:00", "20:00")])
    assert locals_(slots_on(MONDAY, staff=[extra]))[-1] == "19:00"
    # leave wins over an extra shift on the same day
    both = staff(
        "s1",
        exceptions=[
            ScheduleException.extra_shift(MONDAY, "18:00", "20:00"),
            ScheduleException.leave(MONDAY, "17:30", "24:00"),
        ],
    )
    assert locals_(slots_on(MONDAY, staff=[both]))[-1] == "16:30"
    # an exception only touches its own date
    assert len(slots_on(MONDAY + timedelta(days=1), staff=[whole])) == 33


def test_night_shift_across_midnight_joins():
    member = Staff("s1", frozenset({"facial"}), WeeklyHours.uniform([("00:00", "02:00"), ("22:00", "24:00")]))
    got = slots_on(MONDAY, staff=[member], services=[Service("facial", 120, skill="facial")])
    assert locals_(got) == ["00:00", "22:00", "22:15", "22:30", "22:45", "23:00", "23:15", "23:30", "23:45"]


def test_busy_staff_is_avoided_half_open():
    busy = [Busy("s1", z(2026, 6, 1, 2), z(2026, 6, 1, 3))]  # 10:00-11:00 local
    got = locals_(slots_on(MONDAY, busy=busy))
    assert "09:00" in got and "09:15" not in got and "10:45" not in got and "11:00" in got


def test_room_capacity_counts_concurrent_appointments():
    service = Service("facial", 60, skill="facial", room_type="bed")
    team = [staff("s1"), staff("s2"), staff("s3")]
    rooms = [Room("r1", "bed", capacity=2)]
    busy = [Busy("r1", z(2026, 6, 1, 2), z(2026, 6, 1, 3))]
    got = slots_on(MONDAY, services=[service], staff=team, rooms=rooms, busy=busy)
    at_10 = [s for s in got if s.local_start.endswith("T10:00")]
    assert [s.staff_id for s in at_10] == ["s1", "s2", "s3"]  # one appointment, capacity 2: still room
    assert all(s.assignments[0].room_id == "r1" for s in at_10)
    busy.append(Busy("r1", z(2026, 6, 1, 2, 30), z(2026, 6, 1, 4)))  # 10:30-12:00
    got = locals_(slots_on(MONDAY, services=[service], staff=team, rooms=rooms, busy=busy))
    # 09:30-10:30 overlaps one appointment; 09:45-10:45 .. 10:45-11:45 overlap both; 11:00 one
    assert "09:30" in got and "11:00" in got
    assert not {"09:45", "10:00", "10:30", "10:45"} & set(got)
    assert slots_on(MONDAY, services=[service], staff=team, rooms=[]) == []
    assert slots_on(MONDAY, services=[service], staff=team, rooms=[Room("x", "chair")]) == []


def test_room_of_right_type_is_picked_lowest_id_first():
    service = Service("facial", 60, skill="facial", room_type="bed")
    rooms = [Room("r2", "bed"), Room("c1", "chair"), Room("r1", "bed")]
    busy = [Busy("r1", z(2026, 6, 1, 1), z(2026, 6, 1, 2))]
    got = slots_on(MONDAY, services=[service], rooms=rooms, busy=busy)
    assert got[0].assignments[0].room_id == "r2"  # r1 busy at 09:00
    assert got[4].local_start.endswith("10:00") and got[4].assignments[0].room_id == "r1"


def test_equipment_is_needed_and_exclusive():
    service = Service("laser", 30, skill="facial", equipment_kind="laser")
    team = [staff("s1"), staff("s2")]
    kit = [Equipment("l1", "laser")]
    busy = [Busy("l1", z(2026, 6, 1, 1), z(2026, 6, 1, 2))]  # 09:00-10:00 local
    got = slots_on(MONDAY, services=[service], staff=team, equipment=kit, busy=busy)
    assert got[0].local_start.endswith("10:00")
    assert [s.staff_id for s in got[:2]] == ["s1", "s2"]
    assert all(s.assignments[0].equipment_id == "l1" for s in got)
    assert slots_on(MONDAY, services=[service], staff=team, equipment=[Equipment("x", "ipl")]) == []


def test_busy_on_unrelated_resources_is_ignored():
    busy = [Busy("someone-else", z(2026, 6, 1, 0), z(2026, 6, 1, 12))]
    assert len(slots_on(MONDAY, busy=busy)) == 33


def test_preferred_staff():
    team = [staff("s1"), staff("s2", skills=("massage",))]
    both = slots_on(MONDAY, staff=team, services=[Service("massage", 60, skill="massage")])
    assert {s.staff_id for s in both} == {"s1", "s2"}
    only = slots_on(
        MONDAY, staff=team, services=[Service("massage", 60, skill="massage")], preferred_staff="s2"
    )
    assert only and {s.staff_id for s in only} == {"s2"}
    assert slots_on(MONDAY, staff=team, preferred_staff="s2") == []  # s2 cannot do facials
    assert slots_on(MONDAY, staff=team, preferred_staff="nobody") == []


def test_ordering_by_start_then_staff_and_lead_time():
    team = [staff("s2"), staff("s1")]
    now = z(2026, 6, 1, 1, 5)  # 09:05 local
    got = slots_on(MONDAY, staff=team, now=now, min_lead_minutes=60)
    assert got[0].local_start.endswith("T10:15")
    assert [(s.local_start[11:], s.staff_id) for s in got[:3]] == [
        ("10:15", "s1"),
        ("10:15", "s2"),
        ("10:30", "s1"),
    ]
    assert got == sorted(got, key=lambda s: (s.start_utc, s.staff_id))


def test_prep_buffer_cannot_be_in_the_past():
    service = Service("facial", 60, buffer_before_minutes=30, skill="facial")
    got = slots_on(MONDAY, services=[service], now=z(2026, 6, 1, 1, 50))  # 09:50
    assert locals_(got)[0] == "10:30"


def test_back_to_back_across_two_staff():
    facial = Service("facial", 60, skill="facial", buffer_after_minutes=15)
    massage = Service("massage", 90, skill="massage", buffer_before_minutes=15, room_type="bed")
    s1 = staff("s1", skills=("facial",), hours=(("09:00", "11:00"),))
    s2 = staff("s2", skills=("massage",), hours=(("09:45", "18:00"),))
    got = slots_on(MONDAY, services=[facial, massage], staff=[s1, s2], rooms=[Room("b1", "bed")])
    # facial reserved block ends by 11:00 -> starts at most 09:45; massage prep at start+45 >= 09:45
    assert locals_(got) == ["09:00", "09:15", "09:30", "09:45"]
    first = got[0]
    assert first.staff_ids == ("s1", "s2")
    f, m = first.assignments
    assert f.end_utc == m.start_utc  # back to back for the customer
    assert m.reserved_start_utc == m.start_utc - timedelta(minutes=15)
    assert (f.room_id, m.room_id) == (None, "b1")
    assert first.end_utc == first.start_utc + timedelta(minutes=150)
    # massage staff busy 11:00-11:30 local: only starts whose massage (+prep) avoids it remain
    busy = [Busy("s2", z(2026, 6, 1, 3), z(2026, 6, 1, 3, 30))]
    got = slots_on(MONDAY, services=[facial, massage], staff=[s1, s2], rooms=[Room("b1", "bed")], busy=busy)
    assert got == []


def test_back_to_back_prefers_the_same_staff_member_then_lowest_id():
    a = Service("facial", 60, skill="facial")
    b = Service("massage", 60, skill="massage")
    team = [staff("s1"), staff("s2"), staff("s0", skills=("massage",))]
    got = slots_on(MONDAY, services=[a, b], staff=team)
    at_9 = [s.staff_ids for s in got if s.local_start.endswith("T09:00")]
    assert at_9 == [("s1", "s1"), ("s2", "s2")]
    busy = [Busy("s1", z(2026, 6, 1, 2), z(2026, 6, 1, 3))]  # s1 busy 10:00-11:00
    got = slots_on(MONDAY, services=[a, b], staff=team, busy=busy)
    at_9 = [s.staff_ids for s in got if s.local_start.endswith("T09:00")]
    assert at_9 == [("s1", "s0"), ("s2", "s2")]
    # preferred staff must do both
    assert {s.staff_ids for s in slots_on(MONDAY, services=[a, b], staff=team, preferred_staff="s2")} == {
        ("s2", "s2")
    }
    assert slots_on(MONDAY, services=[a, b], staff=team, preferred_staff="s0") == []


def test_same_staff_back_to_back_absorbs_own_buffers():
    a = Service("facial", 60, skill="facial", buffer_after_minutes=15)
    b = Service("massage", 60, skill="massage", buffer_before_minutes=15)
    # blocks 09:00-10:15 and 09:45-11:00 of one staff member merge into 09:00-11:00
    got = slots_on(MONDAY, services=[a, b], staff=[staff("s1", hours=(("09:00", "11:00"),))])
    assert locals_(got) == ["09:00"] and got[0].staff_ids == ("s1", "s1")


# --- DST: America/New_York 2026 -------------------------------------------------------------------


def test_new_york_spring_forward_keeps_the_local_opening():
    # 2026-03-08 02:00 EST -> 03:00 EDT. 09:00 is 14:00Z on EST days and 13:00Z on EDT days.
    got = find_slots(
        tz=NY,
        start_date=date(2026, 3, 7),
        end_date=date(2026, 3, 9),
        services=[FACIAL],
        staff=[staff("s1")],
        now=LONG_AGO,
    )
    firsts = {s.local_start[:10]: s for s in got if s.local_start.endswith("T09:00")}
    assert firsts["2026-03-07"].start_utc == z(2026, 3, 7, 14)
    assert firsts["2026-03-08"].start_utc == z(2026, 3, 8, 13)
    assert firsts["2026-03-09"].start_utc == z(2026, 3, 9, 13)
    assert all(len([s for s in got if s.local_start[:10] == d]) == 33 for d in firsts)
    _assert_wall_times_right(got, NY)


def test_new_york_fall_back_keeps_the_local_opening():
    # 2026-11-01 02:00 EDT -> 01:00 EST. 09:00 is 13:00Z before and 14:00Z after.
    got = find_slots(
        tz=NY,
        start_date=date(2026, 10, 31),
        end_date=date(2026, 11, 2),
        services=[FACIAL],
        staff=[staff("s1")],
        now=LONG_AGO,
    )
    firsts = {s.local_start[:10]: s.start_utc for s in got if s.local_start.endswith("T09:00")}
    assert firsts == {
        "2026-10-31": z(2026, 10, 31, 13),
        "2026-11-01": z(2026, 11, 1, 14),
        "2026-11-02": z(2026, 11, 2, 14),
    }
    _assert_wall_times_right(got, NY)


def _assert_wall_times_right(slots: list[Slot], tz: str) -> None:
    zone = ZoneInfo(tz)
    starts = [s.start_utc for s in slots]
    assert all(a < b for a, b in itertools.pairwise(starts))  # one staff: strictly increasing
    for s in slots:
        assert s.start_utc.astimezone(zone).strftime("%Y-%m-%dT%H:%M") == s.local_start
        assert s.start_utc.tzinfo is UTC and s.tz == tz


def test_spring_gap_slots_never_appear():
    night = staff("s1", hours=(("00:00", "06:00"),))
    service = Service("facial", 30, skill="facial")
    got = slots_on(date(2026, 3, 8), tz=NY, staff=[night], services=[service])
    times = locals_(got)
    assert not [t for t in times if t.startswith("02:")]
    assert times[:10] == [
        "00:00",
        "00:15",
        "00:30",
        "00:45",
        "01:00",
        "01:15",
        "01:30",
        "01:45",
        "03:00",
        "03:15",
    ]
    assert times[-1] == "05:30"
    by_time = {s.local_start[11:]: s.start_utc for s in got}
    assert by_time["01:45"] == z(2026, 3, 8, 6, 45) and by_time["03:00"] == z(2026, 3, 8, 7)
    # 00:00 EST .. 06:00 EDT is five real hours; a slot may run through the gap
    assert by_time["01:45"] + timedelta(minutes=30) == z(2026, 3, 8, 7, 15)
    _assert_wall_times_right(got, NY)


def test_spring_gap_working_boundary_moves_forward():
    member = staff("s1", hours=(("02:30", "05:00"),))
    got = slots_on(date(2026, 3, 8), tz=NY, staff=[member])
    assert got[0].local_start == "2026-03-08T03:00" and got[0].start_utc == z(2026, 3, 8, 7)
    assert locals_(got)[-1] == "04:00"
    # an interval wholly inside the gap vanishes
    assert slots_on(date(2026, 3, 8), tz=NY, staff=[staff("s1", hours=(("02:00", "02:45"),))]) == []
    zone = ZoneInfo(NY)
    assert not wall_exists(datetime(2026, 3, 8, 2, 30), zone)
    assert local_to_utc(datetime(2026, 3, 8, 2, 30), zone) == z(2026, 3, 8, 7)
    assert local_to_utc(datetime(2026, 3, 8, 2, 0), zone) == z(2026, 3, 8, 7)
    assert local_to_utc(datetime(2026, 3, 8, 3, 0), zone) == z(2026, 3, 8, 7)


def test_fall_back_repeated_hour_uses_first_occurrence():
    zone = ZoneInfo(NY)
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), zone) == z(2026, 11, 1, 5, 30)  # EDT, fold=0
    assert wall_exists(datetime(2026, 11, 1, 1, 30), zone)
    night = staff("s1", hours=(("00:00", "04:00"),))
    service = Service("facial", 30, skill="facial")
    got = slots_on(date(2026, 11, 1), tz=NY, staff=[night], services=[service])
    times = locals_(got)
    assert len(times) == len(set(times))  # each wall time offered once
    by_time = {s.local_start[11:]: s.start_utc for s in got}
    assert by_time["00:00"] == z(2026, 11, 1, 4)
    assert by_time["01:45"] == z(2026, 11, 1, 5, 45)  # first occurrence (EDT)
    assert by_time["02:00"] == z(2026, 11, 1, 7)  # EST
    assert times[-1] == "03:30" and by_time["03:30"] == z(2026, 11, 1, 8, 30)  # ends 04:00 EST = 09:00Z
    _assert_wall_times_right(got, NY)
    # a boundary in the repeated hour is its first occurrence
    late = slots_on(
        date(2026, 11, 1), tz=NY, staff=[staff("s1", hours=(("01:30", "04:00"),))], services=[service]
    )
    assert late[0].start_utc == z(2026, 11, 1, 5, 30)


def test_multi_day_range_across_both_changes_is_ordered():
    got = find_slots(
        tz=NY,
        start_date=date(2026, 3, 1),
        end_date=date(2026, 3, 31),
        services=[FACIAL],
        staff=[staff("s1")],
        now=LONG_AGO,
        step_minutes=60,
    )
    assert len(got) == 31 * 9
    _assert_wall_times_right(got, NY)


# --- validation -----------------------------------------------------------------------------------


def _violations(**overrides) -> list[tuple[str, str]]:
    kwargs = {
        "tz": SH,
        "start_date": MONDAY,
        "end_date": MONDAY,
        "services": [FACIAL],
        "staff": [staff("s1")],
        "now": LONG_AGO,
    }
    kwargs.update(overrides)
    with pytest.raises(InvalidArgument) as caught:
        find_slots(**kwargs)
    return caught.value.violations


def test_validation():
    assert [f for f, _ in _violations(end_date=MONDAY - timedelta(days=1))] == ["end_date"]
    assert [f for f, _ in _violations(end_date=MONDAY + timedelta(days=31))] == ["end_date"]
    find_slots(
        tz=SH,
        start_date=MONDAY,
        end_date=MONDAY + timedelta(days=30),
        services=[FACIAL],
        staff=[],
        now=LONG_AGO,
    )
    assert [f for f, _ in _violations(tz="Mars/Olympus")] == ["tz"]
    assert [f for f, _ in _violations(tz="../etc/passwd")] == ["tz"]
    assert [f for f, _ in _violations(services=[])] == ["services"]
    assert [f for f, _ in _violations(step_minutes=0)] == ["step_minutes"]
    assert [f for f, _ in _violations(now=datetime(2026, 1, 1))] == ["now"]
    assert [f for f, _ in _violations(min_lead_minutes=-1)] == ["min_lead_minutes"]
    assert [f for f, _ in _violations(services=[Service("x", 0)])] == ["services[0].duration_minutes"]
    assert [f for f, _ in _violations(staff=[staff("a"), staff("a")])] == ["staff[1]", "resources[1]"]
    bad_hours = Staff("a", weekly_hours=WeeklyHours({8: (("09:00", "10:00"),), 1: (("10:00", "09:00"),)}))
    assert [f for f, _ in _violations(staff=[bad_hours])] == [
        "staff[0].weekly_hours[8]",
        "staff[0].weekly_hours[1][0]",
    ]
    assert [f for f, _ in _violations(busy=[Busy("s1", datetime(2026, 6, 1), z(2026, 6, 1, 1))])] == [
        "busy[0].start"
    ]
    assert [f for f, _ in _violations(rooms=[Room("r", "bed", capacity=0)])] == ["rooms[0].capacity"]
    errors = _violations(tz="nope", end_date=MONDAY - timedelta(days=2))
    assert {f for f, _ in errors} == {"tz", "end_date"}  # every problem reported at once
    status = InvalidArgument(errors).to_status()
    assert status.code == 3 and len(status.details) == 2


# --- property: returned slots honour every constraint ---------------------------------------------

TZS = [SH, NY, "UTC"]
# New York around the spring change (no repeated wall times, so the wall-clock oracle is exact).
DAYS = [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9), date(2026, 6, 1)]
IDS = ["s1", "s2", "s3"]


@st.composite
def scenarios(draw):
    tz = draw(st.sampled_from(TZS))
    day = draw(st.sampled_from(DAYS))
    hh = st.integers(min_value=0, max_value=24 * 4).map(lambda q: q * 15)

    def interval():
        a, b = sorted(draw(st.lists(hh, min_size=2, max_size=2, unique=True)))
        return (f"{a // 60:02d}:{a % 60:02d}", "24:00" if b == 1440 else f"{b // 60:02d}:{b % 60:02d}")

    team = []
    for sid in draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True)):
        hours = tuple(interval() for _ in range(draw(st.integers(min_value=1, max_value=3))))
        skill_sets = [("facial", "massage")] * 3 + [("facial",), ("massage",), ()]
        skills = frozenset(draw(st.sampled_from(skill_sets)))
        team.append(Staff(sid, skills, WeeklyHours.uniform(hours)))
    services = [
        Service(
            f"svc{i}",
            draw(st.integers(min_value=1, max_value=24)) * 5,
            draw(st.integers(min_value=0, max_value=4)) * 5,
            draw(st.integers(min_value=0, max_value=4)) * 5,
            skill=draw(st.sampled_from([None, "facial", "massage"])),
            room_type=draw(st.sampled_from([None, "bed"])),
            equipment_kind=draw(st.sampled_from([None, "laser"])),
        )
        for i in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    rooms = [
        Room(f"r{i}", "bed", draw(st.integers(min_value=1, max_value=2)))
        for i in range(draw(st.integers(1, 2)))
    ]
    kit = [Equipment(f"e{i}", "laser") for i in range(draw(st.integers(1, 2)))]
    base = datetime.combine(day, datetime.min.time(), ZoneInfo(tz)).astimezone(UTC) - timedelta(hours=2)
    resource_ids = [m.staff_id for m in team] + [r.room_id for r in rooms] + [e.equipment_id for e in kit]
    busy = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        start = base + timedelta(minutes=5 * draw(st.integers(min_value=0, max_value=12 * 28)))
        busy.append(
            Busy(
                draw(st.sampled_from(resource_ids)),
                start,
                start + timedelta(minutes=5 * draw(st.integers(1, 36))),
            )
        )
    now = base + timedelta(minutes=5 * draw(st.integers(min_value=0, max_value=12 * 28)))
    return {
        "tz": tz,
        "start_date": day,
        "end_date": day,
        "services": services,
        "staff": team,
        "rooms": rooms,
        "equipment": kit,
        "busy": busy,
        "preferred_staff": draw(st.sampled_from([None, None, None, *IDS])),
        "step_minutes": draw(st.sampled_from([5, 15, 30, 45])),
        "now": now,
        "min_lead_minutes": draw(st.sampled_from([0, 30, 120])),
    }


def _working(member: Staff, moment: datetime, zone: ZoneInfo) -> bool:
    """Oracle: is the wall-clock time of `moment` inside the member's weekly hours that day?"""
    wall = moment.astimezone(zone)
    minute = wall.hour * 60 + wall.minute
    for start, end in member.weekly_hours.on(wall.isoweekday()):
        lo = int(start[:2]) * 60 + int(start[3:])
        hi = 1440 if end == "24:00" else int(end[:2]) * 60 + int(end[3:])
        if lo <= minute < hi:
            return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenarios())
def test_slots_respect_hours_busy_time_and_resources(case):
    slots = find_slots(**case)
    zone = ZoneInfo(case["tz"])
    by_id = {m.staff_id: m for m in case["staff"]}
    capacity = {r.room_id: r.capacity for r in case["rooms"]}
    rooms = {r.room_id: r.room_type for r in case["rooms"]}
    kit = {e.equipment_id: e.kind for e in case["equipment"]}

    def overlapping(rid, a, b):
        return [x for x in case["busy"] if x.resource_id == rid and x.start < b and a < x.end]

    assert slots == sorted(slots, key=lambda s: (s.start_utc, s.staff_ids))
    assert len({(s.start_utc, s.staff_id) for s in slots}) == len(slots)
    for slot in slots:
        assert slot.local_start == slot.start_utc.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        assert slot.local_start[:10] == case["start_date"].isoformat()
        minute = int(slot.local_start[11:13]) * 60 + int(slot.local_start[14:])
        assert minute % case["step_minutes"] == 0
        assert slot.start_utc >= case["now"] + timedelta(minutes=case["min_lead_minutes"])
        assert slot.reserved_start_utc >= case["now"]
        if case["preferred_staff"]:
            assert set(slot.staff_ids) == {case["preferred_staff"]}
        cursor = slot.start_utc
        for service, a in zip(case["services"], slot.assignments, strict=True):
            assert a.start_utc == cursor and a.end_utc == cursor + service.duration
            cursor = a.end_utc
            assert a.reserved_start_utc == a.start_utc - service.buffer_before
            assert a.reserved_end_utc == a.end_utc + service.buffer_after
            lo, hi = a.reserved_start_utc, a.reserved_end_utc
            member = by_id[a.staff_id]
            assert member.can_do(service)
            # fits working hours: every minute of the reserved block is working wall time
            t = lo
            while t < hi:
                assert _working(member, t, zone), (a, t)
                t += timedelta(minutes=5)
            assert not overlapping(a.staff_id, lo, hi)
            if service.room_type is None:
                assert a.room_id is None
            else:
                assert rooms[a.room_id] == service.room_type
                others = overlapping(a.room_id, lo, hi)
                edges = sorted({lo, *(x.start for x in others if x.start > lo)})
                for edge in edges:  # load is highest at some busy start (or at lo)
                    load = sum(1 for x in others if x.start <= edge < x.end)
                    assert load + 1 <= capacity[a.room_id]
            if service.equipment_kind is None:
                assert a.equipment_id is None
            else:
                assert kit[a.equipment_id] == service.equipment_kind
                assert not overlapping(a.equipment_id, lo, hi)
        assert cursor == slot.end_utc


@settings(max_examples=100, deadline=None)
@given(case=scenarios())
def test_single_service_single_staff_is_complete(case):
    """Completeness oracle: with one service and one staff member and no rooms/equipment, every
    aligned wall time that an independent minute-by-minute check accepts is returned."""
    service = Service(
        "svc",
        case["services"][0].duration_minutes,
        case["services"][0].buffer_before_minutes,
        case["services"][0].buffer_after_minutes,
    )
    member = case["staff"][0]
    case.update(services=[service], staff=[member], rooms=[], equipment=[], preferred_staff=None)
    zone = ZoneInfo(case["tz"])
    got = {s.start_utc for s in find_slots(**case)}
    expected = set()
    day = case["start_date"]
    for minute in range(0, 1440, case["step_minutes"]):
        wall = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
        if not wall_exists(wall, zone):
            continue
        start = wall.replace(tzinfo=zone).astimezone(UTC)
        lo, hi = start - service.buffer_before, start + service.duration + service.buffer_after
        if start < case["now"] + timedelta(minutes=case["min_lead_minutes"]) or lo < case["now"]:
            continue
        t, ok = lo, True
        while ok and t < hi:
            ok = _working(member, t, zone)
            t += timedelta(minutes=5)
        ok = ok and not any(
            x.resource_id == member.staff_id and x.start < hi and lo < x.end for x in case["busy"]
        )
        if ok:
            expected.add(start)
    assert got == expected
