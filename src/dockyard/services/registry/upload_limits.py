"""The caps on open upload sessions (``dockyard.uploads``), as the client hears them.

The counting itself happens in the metadata store, in the transaction that creates a session
(so the caps hold across nodes); this module only words the refusal.
"""

from __future__ import annotations

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry import RegistryOptions

SESSION_RETRY_AFTER_SECONDS = 60
# A session with no activity for this long no longer counts against a cap (it stays usable,
# and is purged after storage.maintenance.uploadpurging.age as before): abandoned sessions
# cannot keep a repository's pushes refused for the week they wait to be purged.
SESSION_COUNTED_FOR_SECONDS = 3600.0


def session_client(name: str, authenticated: bool, address: str) -> str:
    """Whom a session counts against: the user, or the address of an anonymous caller."""
    return name if authenticated else f"@{address}"


def session_cap_error(options: RegistryOptions) -> RegistryError:
    """429 for a session over either cap; finishing or cancelling a session frees a place."""
    return RegistryError(
        ErrorCode.TOOMANYREQUESTS,
        "too many upload sessions active in the last hour for this repository or client; "
        "finish or cancel one, or retry later",
        detail={
            "sessions_per_repository": options.sessions_per_repository,
            "sessions_per_client": options.sessions_per_client,
        },
        headers={"Retry-After": str(SESSION_RETRY_AFTER_SECONDS)},
    )
