"""A missing htpasswd file is created with one user, as registry:2 does.

registry:2 (Distribution 2.8) meets an ``auth.htpasswd.path`` that does not exist by creating
it (mode 0600, its directory 0700) with the user ``docker`` and a random password, and logs a
warning carrying both. Without that, a server would start that refuses every login and says
nothing. ``dockyard serve`` calls :func:`provision` before it listens; ``dockyard config
check`` reports what :func:`plan` says will happen.
"""

from __future__ import annotations

import os
import secrets

import bcrypt

USER = "docker"
COST = 12  # bcrypt cost of the entry written


def provision(path: str) -> str | None:
    """Create ``path`` with ``docker:<bcrypt of a random password>``; return the password.

    None when the file exists already (it is never touched then). OSError when it cannot be
    created; a file another process created meanwhile counts as existing.
    """
    if os.path.lexists(path):
        return None
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    password = secrets.token_urlsafe(24)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(COST)).decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"{USER}:{hashed}\n")
        handle.flush()
        os.fsync(handle.fileno())
    return password


def plan(path: str) -> tuple[bool, str] | None:
    """What :func:`provision` will do at start: (whether serve can start, one sentence).

    None when the file exists.
    """
    if os.path.lexists(path):
        return None
    blocker = _unwritable_ancestor(os.path.dirname(os.path.abspath(path)))
    if blocker is not None:
        return False, (
            f"auth.htpasswd.path: {path} does not exist and cannot be created "
            f"({blocker} is not writable): serve will refuse to start"
        )
    return True, (
        f"auth.htpasswd.path {path} does not exist: serve will create it (mode 0600) with the "
        f"user {USER} and a random password, and log both once"
    )


def _unwritable_ancestor(directory: str) -> str | None:
    """The nearest existing ancestor of ``directory``, when this process cannot write there."""
    current = directory
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    if os.path.isdir(current) and os.access(current, os.W_OK | os.X_OK):
        return None
    return current
