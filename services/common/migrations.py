"""Alembic, run per database owner: each service (and the gateway) migrates its own database."""
from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from services.common.db import MessagingBase, make_engine

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
    config.set_main_option("script_location", str(Path(package.__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["owner"] = owner
    return config


def upgrade(owner: str, url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(owner, url), "head")


def run_env(metadata: MetaData, with_messaging: bool = True) -> None:
    """The body of every migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    target = [metadata, MessagingBase.metadata] if with_messaging else [metadata]
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target,
                          render_as_batch=url.startswith("sqlite"), compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
