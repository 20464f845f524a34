"""member contacts for notifications: encrypted email, WeChat openid, push tokens; locale

Revision ID: 0006_member_contacts
Revises: 0005_outbox_parking
Create Date: 2026-12-07 01:50:00

The plaintext ``email`` column stays for rows written before this revision: the repository reads
``email_ct`` first and falls back to it, and every save moves the address into ``email_ct`` and
blanks ``email`` (the migration cannot encrypt: the key is not the database's to hold).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_member_contacts"
down_revision: str | Sequence[str] | None = "0005_outbox_parking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("members", sa.Column("email_ct", sa.LargeBinary(), nullable=True))
    op.add_column("members", sa.Column("wechat_openid_ct", sa.LargeBinary(), nullable=True))
    op.add_column("members", sa.Column("push_tokens_ct", sa.LargeBinary(), nullable=True))
    op.add_column("members", sa.Column("locale", sa.Text(), server_default="zh-CN", nullable=False))


def downgrade() -> None:
    op.drop_column("members", "locale")
    op.drop_column("members", "push_tokens_ct")
    op.drop_column("members", "wechat_openid_ct")
    op.drop_column("members", "email_ct")
