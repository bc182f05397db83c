"""the dashboard lists deposits made for patrons: the mediator's id as an indexed column

Revision ID: 0007_mediated_deposits_index
Revises: 0006_clean_stored_text
Create Date: 2026-12-06 03:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_mediated_deposits_index"
down_revision: str | Sequence[str] | None = "0006_clean_stored_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEDIATED = "mediator_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mediator_id", sa.String(length=64), nullable=True))
    # a deposit made for nobody holds JSON null, whose id is SQL NULL in both databases
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE deposits SET mediator_id = mediated_by ->> 'id' WHERE mediated_by IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE deposits SET mediator_id = json_extract(mediated_by, '$.id') "
            "WHERE mediated_by IS NOT NULL"
        )
    op.create_index(
        "ix_deposits_mediated_created",
        "deposits",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text(MEDIATED),
        sqlite_where=sa.text(MEDIATED),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_deposits_mediated_created",
        table_name="deposits",
        postgresql_where=sa.text(MEDIATED),
        sqlite_where=sa.text(MEDIATED),
    )
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.drop_column("mediator_id")
