"""The cookies that carry web UI sessions, and the CSRF tokens of visitors without one.

The session itself lives in the database (``services/web_sessions.py``); the browser holds
``dockyard_session=<id>.<HMAC-SHA256(id)>`` under a key all nodes share, so a forged or
altered cookie is refused before any lookup. Forms of visitors without a session (the sign-in
form) carry the HMAC of a random value kept in the ``dockyard_form`` cookie (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from dockyard.services.web_sessions import WebSession, WebSessions

SESSION_COOKIE = "dockyard_session"
FORM_COOKIE = "dockyard_form"
ID_MAX = 128


class CookieSessions:
    def __init__(self, sessions: WebSessions) -> None:
        self.sessions = sessions

    async def sign(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of ``value`` for ``purpose`` under the shared key (URL-safe)."""
        key = await self.sessions.signing_key()
        digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    async def cookie_value(self, session: WebSession) -> str:
        return f"{session.id}.{await self.sign('session', session.id)}"

    async def find(self, cookie: str | None) -> WebSession | None:
        if not cookie or len(cookie) > ID_MAX:
            return None
        session_id, dot, mac = cookie.partition(".")
        if not dot or not hmac.compare_digest(mac, await self.sign("session", session_id)):
            return None
        return await self.sessions.find(session_id)

    async def start(self, subject: str, via: str) -> WebSession:
        return await self.sessions.start(subject, via)

    async def end(self, session: WebSession) -> None:
        await self.sessions.end(session.id)

    def new_form_nonce(self) -> str:
        return secrets.token_urlsafe(24)

    async def form_token(self, nonce: str) -> str:
        return await self.sign("form", nonce)

    async def form_token_matches(self, nonce: str | None, token: str) -> bool:
        return bool(nonce) and hmac.compare_digest(await self.form_token(nonce or ""), token)
