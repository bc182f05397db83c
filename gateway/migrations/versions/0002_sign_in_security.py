"""OpenID Connect subjects, named tokens, server-side sign-in sessions, failed sign-ins

Revision ID: 0002_sign_in_security
Revises: 0001_initial_schema
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sign_in_security"
down_revision: str | Sequence[str] | None = "0001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("oidc_issuer", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint("uq_users_oidc", ["oidc_issuer", "oidc_subject"])
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(
            sa.Column("name", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("created_by", sa.String(length=32), nullable=True))
    op.create_table(
        "sign_in_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_sign_in_sessions_user_id", "sign_in_sessions", ["user_id"])
    op.create_table(
        "failed_sign_ins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_failed_sign_ins_key_at", "failed_sign_ins", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_failed_sign_ins_key_at", table_name="failed_sign_ins")
    op.drop_table("failed_sign_ins")
    op.drop_index("ix_sign_in_sessions_user_id", table_name="sign_in_sessions")
    op.drop_table("sign_in_sessions")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("created_by")
        batch_op.drop_column("name")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint("uq_users_oidc", type_="unique")
        batch_op.drop_column("oidc_subject")
        batch_op.drop_column("oidc_issuer")
