"""Who may open which mailbox: grant, revoke (ending the Roundcube sessions), replace a list."""

from __future__ import annotations

from collections.abc import Iterable

from corpmail.autologin.tokens import end_sessions
from corpmail.extensions import db
from corpmail.models import AutologinGrant, ScannerAccount


def revoke_grant(grant: AutologinGrant) -> None:
    """Delete the grant and end the Roundcube sessions it opened (the caller commits)."""
    end_sessions(user_id=grant.user_id, account_id=grant.account_id)
    db.session.delete(grant)


def set_account_grants(account: ScannerAccount, user_ids: Iterable[int]) -> tuple[int, int]:
    """Make exactly these users the mailbox's grantees; (added, removed). The caller commits."""
    wanted = set(user_ids)
    have = {g.user_id: g for g in account.grants}
    removed = 0
    for user_id, grant in have.items():
        if user_id not in wanted:
            revoke_grant(grant)
            removed += 1
    db.session.flush()
    db.session.expire(account, ["grants"])
    added = 0
    for user_id in sorted(wanted - set(have)):
        account.grants.append(AutologinGrant(user_id=user_id))
        added += 1
    return added, removed
