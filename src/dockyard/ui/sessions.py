"""Browser sessions: a random id in a signed, HttpOnly, SameSite=Lax cookie; the rest on the server.

The server keeps who signed in (name and how: ``via``), the session's CSRF token, when it
started and when it was last used. A session ends at ``lifetime`` after sign-in, after
``idle`` without a request, or at sign-out, whatever the browser keeps. The cookie value is
``<id>.<HMAC-SHA256(id)>`` under a key made at start-up, so a forged or altered cookie is
rejected before any lookup. Sessions live in this process: a restart signs everyone out.

Forms before sign-in (the sign-in form itself) are protected by a double-submit token: a
random value in a short-lived cookie and its HMAC in the form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "dockyard_session"
FORM_COOKIE = "dockyard_form"
SESSIONS_MAX = 100_000  # beyond this the oldest sessions are dropped first


@dataclass(slots=True)
class Session:
    id: str
    subject: str
    via: str  # how the principal is found again (identity: its ``via``; htpasswd: "htpasswd")
    csrf: str
    started: float
    last_seen: float = field(default=0.0)


class SessionStore:
    def __init__(
        self, lifetime: float, idle: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.lifetime = lifetime
        self.idle = idle
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._sessions: dict[str, Session] = {}

    # cookies --------------------------------------------------------------------------------

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def cookie_value(self, session: Session) -> str:
        return f"{session.id}.{self._mac('session', session.id)}"

    def _id_from_cookie(self, value: str) -> str | None:
        session_id, dot, mac = value.partition(".")
        if not dot or not hmac.compare_digest(mac, self._mac("session", session_id)):
            return None
        return session_id

    # sessions -------------------------------------------------------------------------------

    def start(self, subject: str, via: str) -> Session:
        now = self.clock()
        if len(self._sessions) >= SESSIONS_MAX:
            self._evict(now)
        session = Session(secrets.token_urlsafe(32), subject, via, secrets.token_urlsafe(32),
                          now, now)  # fmt: skip
        self._sessions[session.id] = session
        return session

    def find(self, cookie: str | None) -> Session | None:
        """The live session a cookie names (its last use moved to now), or None."""
        session_id = self._id_from_cookie(cookie) if cookie else None
        session = self._sessions.get(session_id) if session_id else None
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            self._sessions.pop(session.id, None)
            return None
        session.last_seen = now
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.started >= self.lifetime or now - session.last_seen >= self.idle

    def _evict(self, now: float) -> None:
        for session in [s for s in self._sessions.values() if self._expired(s, now)]:
            self._sessions.pop(session.id, None)
        while len(self._sessions) >= SESSIONS_MAX:
            oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
            self._sessions.pop(oldest.id, None)

    # forms before sign-in -----------------------------------------------------------------------

    def new_form_nonce(self) -> str:
        return secrets.token_urlsafe(24)

    def form_token(self, nonce: str) -> str:
        return self._mac("form", nonce)

    def form_token_matches(self, nonce: str | None, token: str) -> bool:
        return bool(nonce) and hmac.compare_digest(self.form_token(nonce or ""), token)
