"""Who is calling and what they may do: principals, credential backends, tokens and the policy.

``policy`` is pure and decides from ``grants`` (identity management: ``permissions``, roles,
patterns) when a principal carries them; backends (htpasswd today) verify credentials;
``tokens`` and its ``token_*`` modules issue and verify Docker registry tokens (JWT) with
dockyard's own keys or an external issuer's. May import ``core`` and config types only.
"""
