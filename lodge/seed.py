"""Demo data for `lodge run`: accounts, profiles, collections and reasons. Demo only."""
from __future__ import annotations

from sqlalchemy import func, select

from gateway import identity
from gateway.models import User
from kernel.contracts.actors import Actor
from kernel.contracts.profiles import ProfileDefinitionSchema
from kernel.platform.config import get_settings
from kernel.platform.db import Database
from kernel.policy.permissions import STAFF_ROLES
from services.approval.review import seed_reasons
from services.intake.deposits import save_profile
from services.intake.models import Profile
from services.inventory.records import seed_collections
from services.letters.letters import save_recipient

DEMO_PASSWORD = "demo"
DEMO_USERS = (
    # username, name, groups, roles
    ("student", "Sam Student", ["student"], ["patron"]),
    ("faculty", "Fran Faculty", ["faculty"], ["patron"]),
    ("approver", "Alex Approver", ["approvers"], ["approver"]),
    ("manager", "Morgan Manager", ["approvers"], ["manager", "approver"]),
    ("staff", "Robin Staff", ["library"], ["staff"]),
    # a second approver of theses, and one for another faculty's profiles
    ("approver2", "Ari Approver", ["approvers"], ["approver"]),
    ("chemist", "Chris Chemist", ["chemistry"], ["approver"]),
    ("admin", "Ada Admin", ["library"], ["admin"]),
)
SYSTEM_ACTOR = Actor(id="system", name="Lodge", roles=("manager",))

COMMON_FIELDS = [
    {"key": "title", "label": "Title", "type": "text", "required": True, "dc": "title"},
    {"key": "creators", "label": "Creators", "type": "person", "required": True,
     "repeatable": True, "dc": "creator"},
    {"key": "abstract", "label": "Abstract", "type": "long_text", "required": True,
     "dc": "description"},
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
        "file_rules": {"min_files": 1, "max_files": 20, "max_file_size": 2 * 1024 ** 3,
                       "max_total_size": 10 * 1024 ** 3, "allowed_extensions": []},
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
        "fields": COMMON_FIELDS + [
            {"key": "degree", "label": "Degree", "type": "choice", "required": True,
             "vocabulary": ["Bachelor", "Master", "Doctorate"], "dc": "type"},
        ],
        "file_rules": {"min_files": 1, "max_files": 5, "max_file_size": 500 * 1024 ** 2,
                       "max_total_size": 1024 ** 3,
                       "allowed_extensions": ["pdf", "zip", "txt", "csv", "png", "jpg"]},
        "approval": {"mode": "manual", "approver_groups": ["approvers"]},
        # restricted to students: library staff deposit theses for them only as named here
        "mediators": {"roles": ["staff"]},
        "target_collection": "theses",
        "resource_type": "thesis",
        "terms": "I confirm that this is the final, examined version of my thesis.",
    },
}


def seed_demo() -> bool:
    """Seed everything once; False if the demo data was there already."""
    settings = get_settings()
    gateway = Database(settings.database_url("gateway"), "gateway")
    with gateway.unit_of_work() as uow:
        if uow.session.scalar(select(func.count()).select_from(User)):
            return False
        staff_actors = []
        # password 'demo' for everyone: never on a site unless asked for
        demo_accounts = settings.on_embedded_defaults or settings.seed_demo_accounts
        for username, name, groups, roles in DEMO_USERS if demo_accounts else ():
            user = identity.create_user(uow.session, username, name, f"{username}@example.edu",
                                        DEMO_PASSWORD, groups, roles, enforce_policy=False)
            if STAFF_ROLES.intersection(roles):
                staff_actors.append(Actor.from_wire(identity.actor_for(user)))
    intake = Database(settings.database_url("intake"), "intake")
    with intake.unit_of_work() as uow:
        for profile_id, definition in DEMO_PROFILES.items():
            if uow.session.get(Profile, profile_id) is None:
                save_profile(uow, SYSTEM_ACTOR, profile_id, ProfileDefinitionSchema().load(definition),
                         create=True)
    with Database(settings.database_url("inventory"), "inventory").unit_of_work() as uow:
        seed_collections(uow.session)
    with Database(settings.database_url("approval"), "approval").unit_of_work() as uow:
        seed_reasons(uow.session)
    # the demo approvers hear of new deposits before they first sign in
    with Database(settings.database_url("letters"), "letters").unit_of_work() as uow:
        for actor in staff_actors:
            save_recipient(uow.session, actor, None)
    return True
