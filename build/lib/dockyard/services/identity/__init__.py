"""Identity and access: users, groups, projects, roles, members, robots, personal access
tokens, logins (throttled) and the audit log.

``directory`` turns database rows into :class:`~dockyard.auth.grants.Identity` objects and
caches them per process until the identity generation changes; ``login`` implements
``auth.identity.IdentityProvider`` for the request authenticators and the token service; the
management services (``users``, ``projects``, ``robots``, ``tokens``) take the calling
principal, ask ``auth.policy`` and write an audit event for every change.
"""
