"""members' names and care profiles encrypted like the phone, older e-mails too; erasures audit

Revision ID: 0010_member_erasure_encryption
Revises: 0009_referral_settings_terms
Create Date: 2026-12-07 12:45:00

Adds ``display_name_ct`` (the name under the member's data key), ``name_prefix_bidx`` (keyed blind
indexes of the name's first prefixes, for ListMembers' prefix search), ``care_profile_ct`` and
``member_erasures``. Then encrypts what was still plaintext: every member's name and care profile
and the e-mails of rows written before 0006, in batches, and blanks the plaintext columns.
Encrypting needs ``PEONY_PII_KEY`` — the same environment the services run with (the Kubernetes
migrate Job has ``peony-secrets``); the repository reads the plaintext columns as a fallback, so
rows are readable at every point.

The encryption here is a snapshot of ``MemberCodec`` (services/members/adapters/repository.py)
as of this revision: field AAD ``{tenant}/{member_id}/{field}``; name prefixes of 1..8 characters
through ``PiiCipher.prefix_blind_indexes`` (purpose ``name_prefix``).
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kit.config import pii_master_key_from_env
from kit.crypto import PiiCipher

revision: str = "0010_member_erasure_encryption"
down_revision: str | Sequence[str] | None = "0009_referral_settings_terms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_PREFIXES = 8
_EMPTY_CARE_PROFILE = {
    "skin_type": "",
    "allergies": [],
    "past_treatments": [],
    "favourite_staff": "",
    "massage_style": "",
    "notes": "",
}


def upgrade() -> None:
    op.add_column("members", sa.Column("display_name_ct", sa.LargeBinary(), nullable=True))
    op.add_column("members", sa.Column("name_prefix_bidx", postgresql.ARRAY(sa.LargeBinary()), nullable=True))
    op.add_column("members", sa.Column("care_profile_ct", sa.LargeBinary(), nullable=True))
    op.create_index(
        "ix_members_name_prefix_bidx", "members", ["name_prefix_bidx"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "member_erasures",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("erase_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", name="pk_member_erasures"),
    )
    _encrypt_plaintext_names_and_emails(op.get_bind())


def _encrypt_plaintext_names_and_emails(conn: sa.Connection) -> None:
    pending = conn.execute(
        sa.text(
            "SELECT 1 FROM members"
            " WHERE display_name <> '' OR email <> '' OR care_profile <> '{}'::jsonb LIMIT 1"
        )
    ).first()
    if pending is None:
        return  # a fresh database: no key needed
    cipher = PiiCipher(pii_master_key_from_env())
    after = ("", "00000000-0000-0000-0000-000000000000")
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT tenant_id, member_id::text AS member_id, display_name, email, care_profile,"
                " dek_wrapped"
                " FROM members WHERE (display_name <> '' OR email <> '' OR care_profile <> '{}'::jsonb)"
                " AND (tenant_id, member_id) > (:tenant, CAST(:member AS uuid))"
                " ORDER BY tenant_id, member_id LIMIT :limit"
            ),
            {"tenant": after[0], "member": after[1], "limit": _BATCH},
        ).all()
        if not rows:
            return
        for r in rows:
            if r.dek_wrapped is None:
                dek, wrapped = cipher.new_data_key(r.tenant_id)
            else:
                dek, wrapped = cipher.unwrap(r.tenant_id, r.dek_wrapped), r.dek_wrapped
            values = {"tenant": r.tenant_id, "member": r.member_id, "dek": wrapped}
            sets = ["dek_wrapped = :dek"]
            if r.display_name:
                aad = f"{r.tenant_id}/{r.member_id}/display_name"
                values["name_ct"] = cipher.encrypt_field(dek, r.display_name, aad)
                values["prefixes"] = cipher.prefix_blind_indexes(
                    r.tenant_id, "name_prefix", r.display_name, _PREFIXES
                )
                sets += ["display_name_ct = :name_ct", "name_prefix_bidx = :prefixes", "display_name = ''"]
            if r.email:
                values["email_ct"] = cipher.encrypt_field(dek, r.email, f"{r.tenant_id}/{r.member_id}/email")
                sets += ["email_ct = COALESCE(email_ct, :email_ct)", "email = ''"]
            if r.care_profile:
                values["care_ct"] = cipher.encrypt_field(
                    dek,
                    json.dumps({**_EMPTY_CARE_PROFILE, **r.care_profile}, ensure_ascii=False),
                    f"{r.tenant_id}/{r.member_id}/care_profile",
                )
                sets += ["care_profile_ct = :care_ct", "care_profile = '{}'::jsonb"]
            conn.execute(
                sa.text(
                    f"UPDATE members SET {', '.join(sets)}"  # fixed column names only
                    " WHERE tenant_id = :tenant AND member_id = CAST(:member AS uuid)"
                ).bindparams(
                    *(
                        [sa.bindparam("prefixes", type_=postgresql.ARRAY(sa.LargeBinary()))]
                        if "prefixes" in values
                        else []
                    )
                ),
                values,
            )
        after = (rows[-1].tenant_id, rows[-1].member_id)


def downgrade() -> None:
    # Destructive for the names of members registered since: the plaintext is not brought back
    # into the database (that needs the key), so a downgrade of a live database needs a backup.
    op.drop_table("member_erasures")
    op.drop_index("ix_members_name_prefix_bidx", table_name="members")
    op.drop_column("members", "care_profile_ct")
    op.drop_column("members", "name_prefix_bidx")
    op.drop_column("members", "display_name_ct")
