"""Browsing what the registry holds: repositories, tags with sizes and platforms, and one
artifact in full (its layers, image configuration and referrers), for the web UI and
``/api/v1``. Reads go through the caller's pull rights (``auth.policy``); nothing here writes.
"""
