"""Alembic, run per database owner: each service and the gateway migrates its own database.

The command line is the one place that knows every owner and where its migrations live."""

from __future__ import annotations

import importlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from kernel.platform.db import make_engine

MIGRATIONS = {
    "intake": "services.intake",
    "validation": "services.validation",
    "approval": "services.approval",
    "letters": "services.letters",
    "inventory": "services.inventory",
    "gateway": "gateway",
}


def alembic_config(owner: str, url: str) -> Config:
    package = importlib.import_module(MIGRATIONS[owner])
    config = Config()
    config.set_main_option("script_location", str(Path(package.__path__[0]) / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["owner"] = owner
    return config


def is_current(owner: str, url: str) -> bool:
    """Whether the owner's database is at the newest revision its migrations know."""
    heads = set(ScriptDirectory.from_config(alembic_config(owner, url)).get_heads())
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads
    finally:
        engine.dispose()


# Revision ids the migrations had before each was named by what it changes. Databases
# migrated then still hold them in alembic_version; `upgrade` renames them first.
RENAMED_REVISIONS = {
    "intake": {
        "0001": "0001_initial_schema",
        "0002": "0002_access_choice_terms",
        "0003_i5b": "0003_dashboard_indexes",
        "0004": "0004_history_reason_labels",
        "0005": "0005_deposit_title_trigrams",
        "0006": "0006_clean_stored_text",
        "0007": "0007_mediated_deposits_index",
        "0008": "0008_draft_expiry_warning",
        "0009": "0009_profile_resource_types",
    },
    "validation": {"0001": "0001_initial_schema", "0003_i4b": "0002_prechecks"},
    "approval": {
        "0001": "0001_initial_schema",
        "0003_i5": "0002_queue_columns_groups_notes",
        "0004": "0003_queue_indexes",
    },
    "letters": {"0001": "0001_initial_schema", "0003_i6": "0002_templates_and_digests"},
    "inventory": {
        "0001": "0001_initial_schema",
        "0002": "0002_embargo_date_on_items",
        "0003_i7": "0003_oai_records_and_withdrawal",
        "0003_i7b": "0004_collections_search_fixity",
        "0004": "0005_clean_stored_text",
        "0005": "0006_running_jobs",
        "0006": "0007_item_resource_types",
    },
    "gateway": {
        "0001": "0001_initial_schema",
        "0003_i8": "0002_sign_in_security",
        "0004": "0003_idempotent_requests",
        "0005": "0004_token_expiry_deactivation",
    },
}


def rename_revisions(owner: str, url: str) -> None:
    """Rewrite a renamed revision id in the owner's alembic_version to its current one."""
    renamed = RENAMED_REVISIONS[owner]
    version = sa.table("alembic_version", sa.column("version_num"))
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return
            for old in set(connection.scalars(sa.select(version.c.version_num))) & renamed.keys():
                connection.execute(
                    sa.update(version)
                    .where(version.c.version_num == old)
                    .values(version_num=renamed[old])
                )
    finally:
        engine.dispose()


def upgrade(owner: str, url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    rename_revisions(owner, url)
    command.upgrade(alembic_config(owner, url), "head")
