"""sessions and accounts hardening: session revocations (S27), one-time token creation times (S28), last login

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 18:10:08.004476
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_revocations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_revocations")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("session_revocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_revocations_expires_at"), ["expires_at"], unique=False)

    # Existing tokens get their expiry as creation time: no earlier than the truth, so the hourly cap of reset emails
    # (S28) counts them rather than forgets them.
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )
    op.execute("UPDATE one_time_tokens SET created_at = expires_at")
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "created_at", existing_type=advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_login", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_login")

    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.drop_column("created_at")

    with op.batch_alter_table("session_revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_revocations_expires_at"))

    op.drop_table("session_revocations")
