"""Revoke the tokens of htpasswd users when the file drops them or changes their password.

With identity management on, a user the htpasswd file vouches for is recorded in the database
on first login, and may then hold personal access tokens and refresh tokens that never touch
the file again. So the server watches the file (every ``interval`` seconds, acting once a
change has held still for one interval, so a file caught half-written is not taken for the
new one) and compares each recorded htpasswd user with it:

- **gone from the file**: their personal access tokens are deleted and their stamp (the one
  disabling a user changes) is renewed, which revokes their refresh tokens;
- **password hash changed**: the stamp is renewed (refresh tokens revoked), as a local user's
  password change does; personal access tokens stay, as they do for local users.

Each revocation is audited (``user.tokens.revoke``, target ``user:<name>``). What was last seen
of a user's entry is kept in their row (``password_hash``, otherwise unused for htpasswd users,
holds ``htpasswd:<fingerprint>`` or ``htpasswd:gone``), so a change made while no server ran is
found at the next start, and every node and worker agrees on what was already revoked. A
missing or empty file revokes nothing (it is far more likely being rewritten than meant).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from dockyard.auth.grants import SYSTEM
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import new_stamp
from dockyard.persistence.identity_records import UserRecord
from dockyard.persistence.stores import AccountStore
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.directory import IdentityDirectory

log = logging.getLogger("dockyard.auth")
SOURCE = "htpasswd"
MARK = "htpasswd:"
GONE = MARK + "gone"
WATCHER = Principal("htpasswd", identity=SYSTEM, client="")
_PAGE = 500
_Stamp = tuple[int, int, int]


class HtpasswdWatch:
    def __init__(
        self,
        htpasswd: HtpasswdFile,
        directory: IdentityDirectory,
        audit: AuditLog,
        *,
        interval: float = 2.0,
    ) -> None:
        self.htpasswd = htpasswd
        self.directory = directory
        self.accounts: AccountStore = directory.accounts
        self.audit = audit
        self.interval = interval
        self._seen: _Stamp | None = None  # the file at the last look
        self._checked: _Stamp | None = None  # the file last compared with the database
        self._known: dict[str, str] | None = None  # its entries then (None: not yet)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # the database away, say: try again at the next look
                log.exception("htpasswd: could not compare the file with the recorded users")
            await asyncio.sleep(self.interval)

    async def check(self) -> int:
        """One look at the file; compares it with the database once a change has settled.
        Returns how many users had tokens revoked."""
        seen = self.htpasswd.file_stamp()
        settled = seen is not None and seen == self._seen
        self._seen = seen
        if not settled or seen == self._checked:
            return 0
        current = self.htpasswd.fingerprints()
        if not current:
            log.warning("htpasswd: %s holds no users; no tokens revoked", self.htpasswd.path)
            self._checked = seen
            return 0
        revoked = 0
        async for user in self._recorded():
            revoked += await self._compare(user, current)
        self._checked, self._known = seen, current
        return revoked

    async def _recorded(self) -> AsyncIterator[UserRecord]:
        after = ""
        while True:
            users = await self.accounts.list_users(after, _PAGE)
            for user in users:
                if user.source == SOURCE:
                    yield user
            if len(users) < _PAGE:
                return
            after = users[-1].name

    async def _compare(self, user: UserRecord, current: dict[str, str]) -> int:
        fingerprint = current.get(user.name)
        now = GONE if fingerprint is None else MARK + fingerprint
        stored = user.password_hash or ""
        if stored == now:
            return 0
        if fingerprint is not None and self._unchanged(user.name, stored, fingerprint):
            await self.accounts.update_user(user.name, password_hash=now)  # noted, not revoked
            return 0
        await self._revoke(user.name, now, gone=fingerprint is None)
        return 1

    def _unchanged(self, name: str, stored: str, fingerprint: str) -> bool:
        """Whether an entry whose row does not say what it was may be taken as it is: back
        after being removed (nothing of theirs is left to revoke), or never compared (a row
        from before this was kept: unchanged as far as this process has seen)."""
        if stored == GONE:
            return True
        if stored:
            return False
        before = None if self._known is None else self._known.get(name)
        return before is None or before == fingerprint

    async def _revoke(self, name: str, now: str, *, gone: bool) -> None:
        deleted = 0
        if gone:
            for token in await self.accounts.list_tokens(name):
                deleted += await self.accounts.delete_token(token.id)
        await self.accounts.update_user(name, password_hash=now, stamp=new_stamp())
        self.directory.invalidate()
        reason = "removed from the htpasswd file" if gone else "password changed in the file"
        detail = {"reason": reason, "access_tokens_deleted": deleted}
        await self.audit.record(WATCHER, "user.tokens.revoke", f"user:{name}", detail=detail)
        log.info("htpasswd: %s %s: tokens revoked", name, reason)
