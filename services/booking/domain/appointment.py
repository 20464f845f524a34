"""The appointment's states and transitions: which change is allowed from which state and when,
and what each one produces. Pure (no I/O, no gRPC): the service layer asks `decide_*` for a
`Transition`, then carries out exactly the effects it lists; a refusal is a plain `Refused`
exception that the service layer maps to FAILED_PRECONDITION with the same reason code.

    BOOKED ──check in──▶ CHECKED_IN ──complete──▶ COMPLETED
      │  └───────────────complete──────────────▶ COMPLETED
      ├──reschedule──▶ BOOKED     (resources re-reserved, reminders re-issued, old time freed)
      ├──cancel──▶ CANCELLED      (resources freed, offered to the waitlist)
      └──no-show──▶ NO_SHOW       (resources freed, offered to the waitlist)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class State(StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class Action(StrEnum):
    CHECK_IN = "check_in"
    COMPLETE = "complete"
    CANCEL = "cancel"
    NO_SHOW = "no_show"
    RESCHEDULE = "reschedule"


# Open appointments hold their resources and count against the member's cap.
OPEN_STATES = frozenset({State.BOOKED, State.CHECKED_IN})


@dataclass(frozen=True)
class Transition:
    """What a transition produces, for the service layer to carry out in one transaction."""

    action: Action
    source: State
    target: State
    releases_resources: bool = False  # the reservations become inactive (the slot is free)
    reserves_anew: bool = False  # new reservations replace the released ones (reschedule)
    cancels_reminders: bool = False  # the reminders not fired yet are cancelled
    reissues_reminders: bool = False  # a new generation of reminders is scheduled
    frees_time: bool = False  # the freed time is offered to the waitlist
    settles_hold: bool = False  # the wallet hold is captured or voided
    capture_hold: bool = False  # ... captured (else voided)
    hold_reason: str = ""  # the reason recorded with the settlement
    counts_late_cancel: bool = False  # counted against the late-cancel policy
    counts_no_show: bool = False  # counted against the no-show policy
    late: bool = False  # a cancel after the free-cancellation cut-off
    waived: bool = False  # ... that staff waived
    facts: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    """A rule refused the change; `reason` is the API's reason code."""

    def __init__(self, message: str, *, reason: str, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message, self.reason, self.metadata = message, reason, dict(metadata or {})


_TRANSITIONS: dict[tuple[State, Action], Transition] = {
    (State.BOOKED, Action.CHECK_IN): Transition(
        Action.CHECK_IN, State.BOOKED, State.CHECKED_IN, cancels_reminders=True
    ),
    (State.BOOKED, Action.COMPLETE): Transition(
        Action.COMPLETE, State.BOOKED, State.COMPLETED, cancels_reminders=True, settles_hold=True,
        hold_reason="complete",
    ),
    (State.CHECKED_IN, Action.COMPLETE): Transition(
        Action.COMPLETE, State.CHECKED_IN, State.COMPLETED, cancels_reminders=True, settles_hold=True,
        hold_reason="complete",
    ),
    (State.BOOKED, Action.CANCEL): Transition(
        Action.CANCEL, State.BOOKED, State.CANCELLED, releases_resources=True, cancels_reminders=True,
        frees_time=True, settles_hold=True, hold_reason="cancel",
    ),
    (State.BOOKED, Action.NO_SHOW): Transition(
        Action.NO_SHOW, State.BOOKED, State.NO_SHOW, releases_resources=True, cancels_reminders=True,
        frees_time=True, settles_hold=True, capture_hold=True, hold_reason="no_show", counts_no_show=True,
    ),
    (State.BOOKED, Action.RESCHEDULE): Transition(
        Action.RESCHEDULE, State.BOOKED, State.BOOKED, releases_resources=True, reserves_anew=True,
        cancels_reminders=True, reissues_reminders=True, frees_time=True,
    ),
}  # fmt: skip


def allowed(state: str, action: Action) -> bool:
    return (State(state), action) in _TRANSITIONS


def transition(state: str, action: Action) -> Transition:
    """The transition `action` from `state`; `Refused` (INVALID_APPOINTMENT_STATE) if none."""
    found = _TRANSITIONS.get((State(state), action))
    if found is None:
        raise Refused(
            f"the appointment is {state}", reason="INVALID_APPOINTMENT_STATE", metadata={"state": state}
        )
    return found


def local_day_start(start: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of the appointment's store-local day (DST-safe: the wall-clock midnight)."""
    return datetime.combine(start.astimezone(zone).date(), time(0), zone)


def decide_check_in(state: str, *, start: datetime, zone: ZoneInfo, now: datetime) -> Transition:
    """BOOKED → CHECKED_IN, from the start of the appointment's store-local day."""
    t = transition(state, Action.CHECK_IN)
    opens = local_day_start(start, zone)
    if now < opens:
        raise Refused(
            "check-in opens on the appointment's day",
            reason="TOO_EARLY_TO_CHECK_IN",
            metadata={"check_in_from": opens.astimezone(UTC).isoformat()},
        )
    return t


def decide_complete(state: str, *, start: datetime, now: datetime, capture_hold: bool) -> Transition:
    """BOOKED or CHECKED_IN → COMPLETED once it has started; the hold captured on request."""
    t = transition(state, Action.COMPLETE)
    if now < start:
        raise Refused(
            "the appointment has not started",
            reason="NOT_STARTED",
            metadata={"start_time": start.isoformat()},
        )
    return replace(t, capture_hold=capture_hold)


def decide_no_show(state: str, *, start: datetime, now: datetime, grace_minutes: int) -> Transition:
    """BOOKED → NO_SHOW from start + the grace period."""
    t = transition(state, Action.NO_SHOW)
    from_ = start + timedelta(minutes=grace_minutes)
    if now < from_:
        raise Refused(
            "too early to mark a no-show",
            reason="NO_SHOW_TOO_EARLY",
            metadata={"no_show_from": from_.isoformat()},
        )
    return t


def decide_cancel(
    state: str,
    *,
    start: datetime,
    now: datetime,
    by_member: bool,
    free_minutes_before: int,
    waive_late_cancel: bool,
) -> Transition:
    """BOOKED → CANCELLED. A member may not cancel once it has started; after the free cut-off it
    is a late cancel, counted (and the hold captured) unless staff waive it."""
    t = transition(state, Action.CANCEL)
    if by_member and now >= start:
        raise Refused("the appointment has started", reason="SLOT_IN_PAST")
    late = now >= start - timedelta(minutes=free_minutes_before)
    waived = late and waive_late_cancel
    counted = late and not waived
    return replace(
        t,
        late=late,
        waived=waived,
        counts_late_cancel=counted,
        capture_hold=counted,
        hold_reason="late_cancel" if counted else "cancel",
    )


def decide_reschedule(
    state: str, *, start: datetime, now: datetime, by_member: bool, free_minutes_before: int
) -> Transition:
    """BOOKED → BOOKED at another time: a member until the free cancellation cut-off, staff until
    the start."""
    t = transition(state, Action.RESCHEDULE)
    cutoff = start - timedelta(minutes=free_minutes_before)
    if by_member and now >= cutoff:
        raise Refused(
            "members may change an appointment only until the free cancellation cut-off",
            reason="CHANGE_CUTOFF_PASSED",
            metadata={"cutoff": cutoff.isoformat()},
        )
    if now >= start:
        raise Refused(
            "the appointment has started",
            reason="CHANGE_CUTOFF_PASSED",
            metadata={"cutoff": start.isoformat()},
        )
    return t
