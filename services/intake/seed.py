"""Intake's demo data for `lodge seed`: the demo profiles. Demo only."""

from __future__ import annotations

from dataclasses import replace

from kernel.contracts.actors import SYSTEM
from kernel.contracts.profiles import ProfileDefinitionSchema
from kernel.platform.config import Settings
from kernel.platform.db import Database
from kernel.policy.permissions import MANAGER
from services.intake.deposits import save_profile
from services.intake.models import Profile

SYSTEM_ACTOR = replace(SYSTEM, roles=(MANAGER,))  # profiles are a manager's to save

COMMON_FIELDS = [
    {"key": "title", "label": "Title", "type": "text", "required": True, "dc": "title"},
    {
        "key": "creators",
        "label": "Creators",
        "type": "person",
        "required": True,
        "repeatable": True,
        "dc": "creator",
    },
    {
        "key": "abstract",
        "label": "Abstract",
        "type": "long_text",
        "required": True,
        "dc": "description",
    },
    {"key": "date", "label": "Date", "type": "date", "required": True, "dc": "date"},
    {"key": "keywords", "label": "Keywords", "type": "keywords", "dc": "subject"},
    {"key": "language", "label": "Language", "type": "language", "dc": "language"},
]
DEMO_PROFILES = {
    "open-works": {
        "name": "Articles, datasets and other works",
        "description": "Published articles, datasets, podcasts and more. Approved automatically.",
        "allowed_groups": [],
        "fields": COMMON_FIELDS,
        "file_rules": {
            "min_files": 1,
            "max_files": 20,
            "max_file_size": 2 * 1024**3,
            "max_total_size": 10 * 1024**3,
            "allowed_extensions": [],
        },
        "approval": {"mode": "automatic"},
        "target_collection": "open-works",
        "resource_type": "journal-article",
        "terms": "I hold the rights to deposit this work and grant the repository a "
        "non-exclusive licence to preserve and distribute it.",
    },
    "thesis": {
        "name": "Thesis",
        "description": "Bachelor's, master's and doctoral theses. Reviewed by the library.",
        "allowed_groups": ["student"],
        "fields": COMMON_FIELDS
        + [
            {
                "key": "degree",
                "label": "Degree",
                "type": "choice",
                "required": True,
                "vocabulary": ["Bachelor", "Master", "Doctorate"],
                "dc": "type",
            },
        ],
        "file_rules": {
            "min_files": 1,
            "max_files": 5,
            "max_file_size": 500 * 1024**2,
            "max_total_size": 1024**3,
            "allowed_extensions": ["pdf", "zip", "txt", "csv", "png", "jpg"],
        },
        "approval": {"mode": "manual", "approver_groups": ["approvers"]},
        # restricted to students: library staff deposit theses for them only as named here
        "mediators": {"roles": ["staff"]},
        "target_collection": "theses",
        "resource_type": "thesis",
        "terms": "I confirm that this is the final, examined version of my thesis.",
    },
}


def seed_demo(settings: Settings) -> None:
    """The demo profiles that are missing."""
    database = Database(settings.database_url("intake"), "intake")
    with database.unit_of_work() as uow:
        for profile_id, definition in DEMO_PROFILES.items():
            if uow.session.get(Profile, profile_id) is None:
                save_profile(
                    uow,
                    SYSTEM_ACTOR,
                    profile_id,
                    ProfileDefinitionSchema().load(definition),
                    create=True,
                )
    database.dispose()
