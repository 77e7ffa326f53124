"""Who is calling and what they may do: principals, credential backends and the policy.

``policy`` is pure; backends (htpasswd today) verify credentials. May import ``core`` and
config types only.
"""
