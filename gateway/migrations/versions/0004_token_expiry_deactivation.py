"""API tokens expire (and their owners are warned); accounts can be deactivated; the last
sign-in is kept, so roles from OIDC claims can age

Revision ID: 0004_token_expiry_deactivation
Revises: 0003_idempotent_requests
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from kernel.platform.db import UTCDateTime

revision: str = "0004_token_expiry_deactivation"
down_revision: str | Sequence[str] | None = "0003_idempotent_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("expiry_warned_at", sa.DateTime(timezone=True), nullable=True)
        )
    # tokens made before expiry existed live the default lifetime from their creation
    tokens = sa.table(
        "api_tokens",
        sa.column("id", sa.String),
        sa.column("created_at", UTCDateTime()),
        sa.column("expires_at", UTCDateTime()),
    )
    connection = op.get_bind()
    for token_id, created_at in connection.execute(
        sa.select(tokens.c.id, tokens.c.created_at)
    ).all():
        connection.execute(
            tokens.update()
            .where(tokens.c.id == token_id)
            .values(expires_at=created_at + timedelta(days=365))
        )
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.alter_column("expires_at", nullable=False)
        batch_op.create_index("ix_api_tokens_expires_at", ["expires_at"])
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("signed_in_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("signed_in_at")
        batch_op.drop_column("deactivated_at")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_index("ix_api_tokens_expires_at")
        batch_op.drop_column("expiry_warned_at")
        batch_op.drop_column("expires_at")
