"""apply_booking writes a booking whole: the member's cap, the outbox and the idempotency record

Revision ID: 0013_apply_booking_whole
Revises: 0012_booking_config_version
Create Date: 2026-12-07 04:45:00

`apply_booking` (migration 0011) wrote the appointment, its reservations and its reminders; the
member's cap on open appointments, the outbox row and the idempotency record were further round
trips around it. Now, when the plan carries them, the same call also

- locks the member's projection row (a placeholder inserted first, as `MemberProjection.lock`
  does) and counts the member's open appointments under that lock, before any row is written: over
  `max_open` the booking fails with SQLSTATE PB429 (the count as the HINT) unless staff may
  override it, in which case the rule is recorded in `overridden_rules`. Locks stay in the order
  every booking takes them: staff and rooms FOR SHARE (the planning reads), the member, then the
  reservations;
- writes the plan's outbox rows (the columns kit/messaging/outbox.py writes; payload base64) and
  notifies the relay's channel, and the idempotency record (kit/idempotency.py's row: request and
  caller hash, sealed response; both base64).

A plan that carries its events and response was built for one outcome: each claim names the
resource it `expect`s, the cap names the verdict it expected (`expect_over`), and a plan made from
the in-process copy of the tenant's configuration names its `config_version` (migration 0012).
When the database decides otherwise (that resource was taken meanwhile and another candidate got
the seat, the member's count moved, the configuration changed) the call fails with SQLSTATE 40001
("stale, re-plan"): the caller's transaction rolls back and is re-run (kit.db.retry_transaction),
and the re-run plans from the database, without prebuilt events. A plan without `expect` (the
re-run, or a booking with a wallet hold, whose response is only known once the wallet answers) is
applied as before: first free candidate, and the caller writes the event after the call.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0013_apply_booking_whole"
down_revision: str | Sequence[str] | None = "0012_booking_config_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY_BOOKING = r"""
CREATE OR REPLACE FUNCTION apply_booking(p jsonb) RETURNS SETOF appointments
LANGUAGE plpgsql AS $fn$
DECLARE
    a jsonb := p->'appointment';
    tenant text := p->>'tenant';
    appointment uuid := (p->'appointment'->>'appointment_id')::uuid;
    stamped timestamptz := coalesce((p->>'now')::timestamptz, now());
    booked jsonb := p->'services';
    overridden text[] := ARRAY(SELECT jsonb_array_elements_text(p->'appointment'->'overridden_rules'));
    cap jsonb := p->'member_cap';
    open_now bigint;
    over boolean;
    claim jsonb;
    opt jsonb;
    seat_no int;
    chosen text;
    idx jsonb;
BEGIN
    IF p ? 'config_version'
       AND booking_config_version(tenant) <> (p->>'config_version')::bigint THEN
        RAISE EXCEPTION 'stale booking plan: the booking configuration changed'
            USING ERRCODE = 'serialization_failure', HINT = 'config_version';
    END IF;

    -- The member's cap, under the member's row lock held to the commit (before any row is
    -- written: the new appointment is not counted).
    IF cap IS NOT NULL THEN
        INSERT INTO member_windows (tenant_id, member_id) VALUES (tenant, cap->>'member_id')
            ON CONFLICT (tenant_id, member_id) DO NOTHING;
        PERFORM 1 FROM member_windows
          WHERE tenant_id = tenant AND member_id = cap->>'member_id' FOR UPDATE;
        IF (cap->>'max_open')::int > 0 THEN
            SELECT count(*) INTO open_now FROM appointments
             WHERE tenant_id = tenant AND member_id = cap->>'member_id'
               AND state IN ('booked', 'checked_in') AND end_time > (cap->>'now')::timestamptz;
            over := open_now >= (cap->>'max_open')::int;
        ELSE
            over := false;
        END IF;
        IF over AND NOT (cap->>'may_exceed')::boolean THEN
            RAISE EXCEPTION 'too many open appointments'
                USING ERRCODE = 'PB429', HINT = open_now::text;
        END IF;
        IF cap ? 'expect_over' AND over <> (cap->>'expect_over')::boolean THEN
            RAISE EXCEPTION 'stale booking plan: the member''s open appointments changed'
                USING ERRCODE = 'serialization_failure', HINT = 'member_cap';
        END IF;
        IF over AND NOT cap ? 'expect_over' THEN
            overridden := array_append(overridden, 'TOO_MANY_OPEN_APPOINTMENTS');
        END IF;
    END IF;

    INSERT INTO appointments (
        tenant_id, appointment_id, member_id, store_id, state, channel, start_time, end_time,
        local_start, local_end, time_zone, services, list_price_minor, currency_code, notes,
        overridden_rules, override_reason, booked_by, waitlist_entry, create_time, update_time)
    VALUES (
        tenant, appointment, a->>'member_id', a->>'store_id', 'booked', (a->>'channel')::int,
        (a->>'start_time')::timestamptz, (a->>'end_time')::timestamptz,
        a->>'local_start', a->>'local_end', a->>'time_zone', '[]'::jsonb,
        (a->>'list_price_minor')::bigint, a->>'currency_code', a->>'notes',
        overridden, a->>'override_reason', a->>'booked_by', a->>'waitlist_entry', stamped, stamped);

    FOR claim IN SELECT value FROM jsonb_array_elements(p->'claims') LOOP
        chosen := NULL;
        <<candidates>>
        FOR opt IN SELECT value FROM jsonb_array_elements(claim->'options') LOOP
            FOR seat_no IN 1 .. (opt->>1)::int LOOP
                BEGIN
                    INSERT INTO appointment_resources
                           (tenant_id, appointment_id, resource_id, kind, seat, during)
                    SELECT tenant, appointment, opt->>0, claim->>'kind', seat_no,
                           tstzrange((s.value->>0)::timestamptz, (s.value->>1)::timestamptz, '[)')
                      FROM jsonb_array_elements(claim->'spans') AS s;
                    chosen := opt->>0;
                    EXIT candidates;
                EXCEPTION WHEN exclusion_violation OR deadlock_detected THEN
                    NULL;  -- taken (or lost the race for it): the next seat / candidate
                END;
            END LOOP;
        END LOOP;
        IF chosen IS NULL THEN
            RAISE EXCEPTION 'the slot was just taken' USING ERRCODE = 'PB409', HINT = claim->>'taken';
        END IF;
        IF claim ? 'expect' AND chosen <> claim->>'expect' THEN
            RAISE EXCEPTION 'stale booking plan: % was taken meanwhile', claim->>'expect'
                USING ERRCODE = 'serialization_failure', HINT = claim->>'kind';
        END IF;
        FOR idx IN SELECT value FROM jsonb_array_elements(claim->'services') LOOP
            booked := jsonb_set(booked, ARRAY[idx #>> '{}', claim->>'kind'], to_jsonb(chosen));
        END LOOP;
    END LOOP;

    INSERT INTO scheduled_reminders (
        tenant_id, appointment_id, generation, kind, minutes_before, due_utc, start_time,
        local_start, time_zone, state)
    SELECT tenant, appointment, 0, r.kind, r.minutes_before, r.due_utc, r.start_time,
           r.local_start, r.time_zone, r.state
      FROM jsonb_to_recordset(p->'reminders') AS r(
           kind text, minutes_before int, due_utc timestamptz, start_time timestamptz,
           local_start text, time_zone text, state text);

    -- The events, in the plan's order (seq follows it), and the relay woken on commit.
    IF jsonb_array_length(coalesce(p->'outbox', '[]'::jsonb)) > 0 THEN
        INSERT INTO outbox (event_id, tenant_id, aggregate_type, aggregate_id, subject, event_type,
                            payload, headers)
        SELECT (o->>'event_id')::uuid, o->>'tenant_id', o->>'aggregate_type', o->>'aggregate_id',
               o->>'subject', o->>'event_type', decode(o->>'payload', 'base64'), o->'headers'
          FROM jsonb_array_elements(p->'outbox') WITH ORDINALITY AS x(o, n)
         ORDER BY n;
        PERFORM pg_notify(p->>'notify', '');
    END IF;

    -- The AIP-155 record: a retry with the same request_id replays this response.
    IF p ? 'idempotency' THEN
        INSERT INTO idempotency_keys (tenant_id, method, request_id, request_hash, response)
        VALUES (tenant, p->'idempotency'->>'method', p->'idempotency'->>'request_id',
                decode(p->'idempotency'->>'request_hash', 'base64'),
                decode(p->'idempotency'->>'response', 'base64'));
    END IF;

    RETURN QUERY
        UPDATE appointments SET services = booked, update_time = stamped
         WHERE tenant_id = tenant AND appointment_id = appointment
        RETURNING *;
END
$fn$
"""


def _previous_version() -> str:
    """0011's function, for the downgrade (one definition of it: the 0011 file)."""
    path = Path(__file__).with_name("0011_apply_booking.py")
    spec = importlib.util.spec_from_file_location("booking_0011_apply_booking", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.APPLY_BOOKING


def upgrade() -> None:
    op.execute(APPLY_BOOKING)


def downgrade() -> None:
    op.execute(_previous_version())
