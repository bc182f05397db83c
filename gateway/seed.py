"""The gateway's demo data for `lodge seed`: the demo accounts (password 'demo'). Demo only."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.auth import identity
from gateway.models import User
from kernel.contracts.actors import Actor
from kernel.platform.config import Settings
from kernel.platform.db import Database
from kernel.policy.permissions import STAFF_ROLES

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


def seed_demo(settings: Settings) -> list[Actor] | None:
    """The demo accounts, the first time only: the staff among them as actors, or None if
    any user was there already (the demo data was seeded before)."""
    database = Database(settings.database_url("gateway"), "gateway")
    try:
        with database.unit_of_work() as uow:
            if uow.session.scalar(select(func.count()).select_from(User)):
                return None
            staff_actors = []
            # password 'demo' for everyone: never on a site unless asked for
            demo_accounts = settings.on_embedded_defaults or settings.site.seed_demo_accounts
            for username, name, groups, roles in DEMO_USERS if demo_accounts else ():
                user = identity.create_user(
                    uow.session,
                    username,
                    name,
                    f"{username}@example.edu",
                    DEMO_PASSWORD,
                    groups,
                    roles,
                    enforce_policy=False,
                )
                if STAFF_ROLES.intersection(roles):
                    staff_actors.append(identity.actor_for(user))
        return staff_actors
    finally:
        database.dispose()
