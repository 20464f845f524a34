"""The appointment domain model: which transitions exist, when each is allowed, what it produces."""

from __future__ import annotations

import ast
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.booking.domain import appointment as m
from services.booking.domain.appointment import Action, Refused, State

START = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
SH = ZoneInfo("Asia/Shanghai")  # START is 22:00 local; its local day starts 2026-05-31T16:00Z

ALLOWED = {
    (State.BOOKED, Action.CHECK_IN): State.CHECKED_IN,
    (State.BOOKED, Action.COMPLETE): State.COMPLETED,
    (State.CHECKED_IN, Action.COMPLETE): State.COMPLETED,
    (State.BOOKED, Action.CANCEL): State.CANCELLED,
    (State.BOOKED, Action.NO_SHOW): State.NO_SHOW,
    (State.BOOKED, Action.RESCHEDULE): State.BOOKED,
}


@pytest.mark.parametrize(("state", "action"), list(itertools.product(State, Action)))
def test_exactly_the_drawn_transitions_exist(state: State, action: Action) -> None:
    if (state, action) in ALLOWED:
        t = m.transition(state.value, action)
        assert (t.source, t.target, t.action) == (state, ALLOWED[state, action], action)
        assert m.allowed(state.value, action)
    else:
        assert not m.allowed(state.value, action)
        with pytest.raises(Refused) as refused:
            m.transition(state.value, action)
        assert refused.value.reason == "INVALID_APPOINTMENT_STATE"
        assert refused.value.metadata == {"state": state.value}


def test_terminal_states_allow_nothing() -> None:
    for state in (State.COMPLETED, State.CANCELLED, State.NO_SHOW):
        assert not any(m.allowed(state, a) for a in Action)


def test_freeing_transitions_release_and_offer_the_time_and_only_they() -> None:
    for (state, action), _ in ALLOWED.items():
        t = m.transition(state, action)
        frees = action in (Action.CANCEL, Action.NO_SHOW, Action.RESCHEDULE)
        assert (t.releases_resources, t.frees_time) == (frees, frees), (state, action)
        # A reschedule keeps the hold (holds.on_reschedule decides); the others end it.
        assert t.settles_hold == (action in (Action.CANCEL, Action.NO_SHOW, Action.COMPLETE))
        # Every transition stops the pending reminders; only a reschedule issues new ones.
        assert t.cancels_reminders
        assert t.reissues_reminders == t.reserves_anew == (action is Action.RESCHEDULE)


def test_check_in_opens_at_local_midnight_of_the_appointment_day() -> None:
    opens = datetime(2026, 5, 31, 16, 0, tzinfo=UTC)
    with pytest.raises(Refused) as early:
        m.decide_check_in("booked", start=START, zone=SH, now=opens - timedelta(seconds=1))
    assert early.value.reason == "TOO_EARLY_TO_CHECK_IN"
    assert early.value.metadata == {"check_in_from": opens.isoformat()}
    t = m.decide_check_in("booked", start=START, zone=SH, now=opens)
    assert t.target is State.CHECKED_IN and not t.settles_hold and not t.releases_resources


def test_check_in_across_a_dst_day_uses_the_wall_clock_midnight() -> None:
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # 11:00 EDT on the spring-forward day
    midnight = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert m.local_day_start(start, ny) == midnight
    with pytest.raises(Refused):
        m.decide_check_in("booked", start=start, zone=ny, now=midnight - timedelta(microseconds=1))


def test_complete_once_started_and_captures_only_on_request() -> None:
    with pytest.raises(Refused) as refused:
        m.decide_complete("checked_in", start=START, now=START - timedelta(seconds=1), capture_hold=True)
    assert refused.value.reason == "NOT_STARTED"
    assert refused.value.metadata == {"start_time": START.isoformat()}
    for capture in (False, True):
        t = m.decide_complete("booked", start=START, now=START, capture_hold=capture)
        assert t.target is State.COMPLETED and t.capture_hold is capture and t.hold_reason == "complete"
        assert not t.releases_resources  # the reservations stay, for the record


def test_no_show_after_the_grace_captures_and_counts() -> None:
    with pytest.raises(Refused) as refused:
        m.decide_no_show("booked", start=START, now=START + timedelta(minutes=14), grace_minutes=15)
    assert refused.value.reason == "NO_SHOW_TOO_EARLY"
    assert refused.value.metadata == {"no_show_from": (START + timedelta(minutes=15)).isoformat()}
    t = m.decide_no_show("booked", start=START, now=START + timedelta(minutes=15), grace_minutes=15)
    assert (t.target, t.capture_hold, t.counts_no_show, t.hold_reason) == (
        State.NO_SHOW,
        True,
        True,
        "no_show",
    )


@pytest.mark.parametrize(
    ("minutes_before_start", "by_member", "waive", "expect"),
    [
        # (late, waived, counted) or the refusal reason
        (24 * 60 + 1, True, False, (False, False, False)),
        (24 * 60, True, False, (True, False, True)),  # the cut-off itself is late
        (60, False, True, (True, True, False)),
        (60, False, False, (True, False, True)),
        (24 * 60 + 120, False, True, (False, False, False)),  # nothing to waive before the cut-off
        (0, True, False, "SLOT_IN_PAST"),  # a member, once it has started
        (-30, False, False, (True, False, True)),  # staff may still cancel after the start
    ],
)
def test_cancel_late_waived_counted(minutes_before_start, by_member, waive, expect) -> None:
    now = START - timedelta(minutes=minutes_before_start)
    kwargs = dict(
        start=START, now=now, by_member=by_member, free_minutes_before=24 * 60, waive_late_cancel=waive
    )
    if isinstance(expect, str):
        with pytest.raises(Refused) as refused:
            m.decide_cancel("booked", **kwargs)
        assert refused.value.reason == expect
        return
    t = m.decide_cancel("booked", **kwargs)
    assert (t.late, t.waived, t.counts_late_cancel) == expect
    assert t.capture_hold == t.counts_late_cancel
    assert t.hold_reason == ("late_cancel" if t.counts_late_cancel else "cancel")
    assert t.target is State.CANCELLED


def test_reschedule_cutoffs_member_then_staff() -> None:
    free = 120
    cutoff = START - timedelta(minutes=free)
    assert m.decide_reschedule("booked", start=START, now=cutoff - timedelta(seconds=1), by_member=True,
                               free_minutes_before=free).target is State.BOOKED  # fmt: skip
    with pytest.raises(Refused) as member:
        m.decide_reschedule("booked", start=START, now=cutoff, by_member=True, free_minutes_before=free)
    assert (member.value.reason, member.value.metadata) == (
        "CHANGE_CUTOFF_PASSED",
        {"cutoff": cutoff.isoformat()},
    )
    m.decide_reschedule("booked", start=START, now=cutoff, by_member=False, free_minutes_before=free)
    with pytest.raises(Refused) as staff:
        m.decide_reschedule("booked", start=START, now=START, by_member=False, free_minutes_before=free)
    assert staff.value.metadata == {"cutoff": START.isoformat()}
    with pytest.raises(Refused) as state:
        m.decide_reschedule("checked_in", start=START, now=cutoff, by_member=False, free_minutes_before=free)
    assert state.value.reason == "INVALID_APPOINTMENT_STATE"


def test_the_model_is_pure() -> None:
    """No gRPC, no database, no kit errors: the edge maps `Refused`."""
    source = Path(m.__file__).read_text()
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {name for name in imported if name.split(".")[0] in {"grpc", "sqlalchemy", "kit", "peony"}}
