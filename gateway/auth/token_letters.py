"""Letters to the owners of API tokens that expire soon. The gateway keeps the tokens and
letters keeps the outbox, so the gateway asks letters over RPC (`warn_token_expiry`, its
contract in kernel/contracts/), keyed by token: a warning asked for twice is
one letter. `lodge warn-expiring-tokens` runs it (schedule it daily)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway.auth.identity import actor_for
from gateway.models import ApiToken, User
from kernel.platform.db import Database


def expiring_tokens(session, now: datetime, warning: timedelta) -> list[tuple[ApiToken, User]]:
    """Live tokens of active accounts with an e-mail that expire within `warning`, not
    warned of yet."""
    return list(
        session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(
                ApiToken.revoked_at.is_(None),
                ApiToken.expiry_warned_at.is_(None),
                ApiToken.expires_at > now,
                ApiToken.expires_at <= now + warning,
                User.deactivated_at.is_(None),
                User.email != "",
            )
            .order_by(ApiToken.expires_at)
        ).tuples()
    )


def warn_owners(database: Database, rpc_client, warning: timedelta) -> int:
    """Ask letters to warn each owner; a token is marked warned once letters took it."""
    now = datetime.now(UTC)
    with database.reading() as session:
        due = [
            (token.id, token.name, token.prefix, token.expires_at, actor_for(user))
            for token, user in expiring_tokens(session, now, warning)
        ]
    for token_id, name, prefix, expires_at, owner in due:
        with rpc_client() as rpc:
            rpc.letters.warn_token_expiry(
                key=f"api-token:{token_id}:expiry",
                recipient=owner,
                token_name=name,
                token_prefix=prefix,
                expires_at=expires_at.isoformat(),
            )
        with database.unit_of_work() as uow:
            uow.session.get_one(ApiToken, token_id).expiry_warned_at = datetime.now(UTC)
    return len(due)
