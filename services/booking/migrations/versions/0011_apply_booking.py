"""apply_booking: a booking's rows written in one database call

Revision ID: 0011_apply_booking
Revises: 0010_outbox_parking
Create Date: 2026-12-07 02:40:00

The service layer plans a booking in Python (appointments.plan_booking: the appointment row, the
resource claims with their candidates in order, the reminders); this function applies that plan in
one round trip. Each candidate seat is tried in its own subtransaction (a BEGIN ... EXCEPTION
block: the savepoint the Python path takes per candidate), so a reservation that collides under
the exclusion constraint (23P01), or loses a deadlock over the seat (40P01: PostgreSQL checks the
constraint after inserting the index entry, so two overlapping inserts can wait for each other),
moves on to the next candidate. When no candidate of a claim is free it raises SQLSTATE PB409 with
the claim's resource (or kind) as the HINT, and the caller's transaction rolls back.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_apply_booking"
down_revision: str | Sequence[str] | None = "0010_outbox_parking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY_BOOKING = r"""
CREATE OR REPLACE FUNCTION apply_booking(p jsonb) RETURNS SETOF appointments
LANGUAGE plpgsql AS $fn$
DECLARE
    a jsonb := p->'appointment';
    tenant text := p->>'tenant';
    appointment uuid := (p->'appointment'->>'appointment_id')::uuid;
    booked jsonb := p->'services';
    claim jsonb;
    opt jsonb;
    seat_no int;
    chosen text;
    idx jsonb;
BEGIN
    INSERT INTO appointments (
        tenant_id, appointment_id, member_id, store_id, state, channel, start_time, end_time,
        local_start, local_end, time_zone, services, list_price_minor, currency_code, notes,
        overridden_rules, override_reason, booked_by, waitlist_entry)
    VALUES (
        tenant, appointment, a->>'member_id', a->>'store_id', 'booked', (a->>'channel')::int,
        (a->>'start_time')::timestamptz, (a->>'end_time')::timestamptz,
        a->>'local_start', a->>'local_end', a->>'time_zone', '[]'::jsonb,
        (a->>'list_price_minor')::bigint, a->>'currency_code', a->>'notes',
        ARRAY(SELECT jsonb_array_elements_text(a->'overridden_rules')), a->>'override_reason',
        a->>'booked_by', a->>'waitlist_entry');

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

    RETURN QUERY
        UPDATE appointments SET services = booked, update_time = now()
         WHERE tenant_id = tenant AND appointment_id = appointment
        RETURNING *;
END
$fn$
"""


def upgrade() -> None:
    op.execute(APPLY_BOOKING)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS apply_booking(jsonb)")
