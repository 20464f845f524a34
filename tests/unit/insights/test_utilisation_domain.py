"""The closed-form sums of available minutes equal a day-by-day count."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

from services.insights.domain.utilisation import (
    Schedules,
    staff_minutes,
    staffed_minutes,
    subtract,
    total,
    union,
    weekday_counts,
)


def test_weekday_counts_match_counting_days():
    first = date(2026, 1, 1)
    for n in range(0, 40):
        last = first + timedelta(days=n - 1)
        days = [first + timedelta(days=i) for i in range(n)]
        assert weekday_counts(first, last) == {w: sum(d.isoweekday() == w for d in days) for w in range(1, 8)}


def test_interval_arithmetic():
    assert union([(60, 120), (100, 200), (300, 400), (400, 410)]) == [(60, 200), (300, 410)]
    assert subtract([(0, 600)], [(60, 120), (500, 700)]) == [(0, 60), (120, 500)]
    assert total(subtract([(540, 1080)], [(720, 780)])) == 480


def _pattern(days, start, end):
    return [[d, start, end] for d in days]


def test_closed_form_equals_day_by_day():
    rng = random.Random(5)
    s = Schedules()
    first = date(2026, 1, 1)
    for k in range(3):
        label = json.dumps(
            {"h": _pattern(range(1, 7), "09:00", "18:00"), "b": _pattern(range(1, 7), "12:00", "13:00")}
        )
        s.apply("StaffScheduleChanged", "stores/a", f"stores/a/staff/{k}", 1, 0, label, first)
    later = json.dumps({"h": _pattern(range(3, 8), "13:00", "21:00"), "b": []})
    s.apply("StaffScheduleChanged", "stores/a", "stores/a/staff/0", 1, 0, later, date(2026, 2, 10))
    s.apply("StaffScheduleChanged", "stores/a", "stores/a/staff/1", 0, 0, "{}", date(2026, 3, 1))
    for n in range(12):
        day = first + timedelta(days=rng.randrange(90))
        kind = rng.choice(["leave", "extra_shift", "training"])
        times = ["19:00", "22:00"] if kind == "extra_shift" else rng.choice([[], ["10:00", "11:30"]])
        x = {
            "id": f"x{n}",
            "k": kind,
            "d": [day.isoformat(), (day + timedelta(days=n % 3)).isoformat()],
            "t": times,
        }
        s.apply("ScheduleExceptionChanged", "stores/a", f"stores/a/staff/{n % 3}", 0, 0, json.dumps(x), first)
    s.apply("ScheduleExceptionChanged", "stores/a", "stores/a/staff/0", 1, 0, json.dumps({"id": "x0"}), first)
    s.apply("RoomChanged", "stores/a", "stores/a/rooms/r", 1, 2, "bed", date(2026, 1, 5))
    s.apply("RoomChanged", "stores/a", "stores/a/rooms/r", 0, 2, "bed", date(2026, 3, 15))
    staff = list(s.staff.values())
    room = s.rooms["stores/a/rooms/r"]
    for a, b in ((date(2025, 12, 20), date(2026, 4, 2)), (date(2026, 2, 3), date(2026, 2, 17))):
        days = [a + timedelta(days=i) for i in range((b - a).days + 1)]
        for member in staff:
            assert staff_minutes(member, a, b) == sum(
                total(member.working(d, member.version_on(d))) for d in days
            )
        expected = sum(
            room.capacity_on(d) * total(union(i for m in staff for i in m.working(d, m.version_on(d))))
            for d in days
        )
        assert staffed_minutes(staff, room, a, b) == expected
