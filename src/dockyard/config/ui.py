"""``dockyard.ui``: the web UI served at ``/`` (docs/ui.md).

``enabled`` turns the pages off (``/`` is then an empty 200, as before). ``sessionlifetime``
is how long a sign-in lasts at most; ``idletimeout`` ends a session nobody used for that
long. Both are checked on the server: the cookie carries only a signed session id.
"""

from __future__ import annotations

import msgspec

from dockyard.config.duration import parse_duration


class UiSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    sessionlifetime: str = "12h"
    idletimeout: str = "1h"

    @property
    def lifetime_seconds(self) -> float:
        return max(parse_duration(self.sessionlifetime), 1.0)

    @property
    def idle_seconds(self) -> float:
        return max(parse_duration(self.idletimeout), 1.0)
