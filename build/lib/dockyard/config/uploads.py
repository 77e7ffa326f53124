"""``dockyard.uploads``: limits on upload sessions and on request bodies that stall.

``sessionsperrepository`` and ``sessionsperclient`` cap the open upload sessions (counted in
the metadata database, so the caps hold across nodes); a client is its user name, or its
address when it is anonymous. 0 turns a cap off. ``bodytimeout`` ends a request whose body
sends nothing for that long (blob PATCH/PUT/POST, manifest PUT); 0 turns it off.
"""

from __future__ import annotations

import msgspec

from dockyard.config.duration import parse_duration

DEFAULT_SESSIONS_PER_REPOSITORY = 1000
DEFAULT_SESSIONS_PER_CLIENT = 2000


class UploadLimitSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    sessionsperrepository: int = DEFAULT_SESSIONS_PER_REPOSITORY
    sessionsperclient: int = DEFAULT_SESSIONS_PER_CLIENT
    bodytimeout: str = "60s"

    @property
    def body_timeout_seconds(self) -> float:
        return parse_duration(self.bodytimeout) if self.bodytimeout.strip() else 0.0
