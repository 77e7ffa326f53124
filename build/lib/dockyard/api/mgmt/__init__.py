"""The JSON management API under ``/api/v1`` (projects, members, roles, robots, tokens, users,
groups, audit), with its OpenAPI document at ``/api/v1/openapi.json``.

Thin adapters like ``/v2``: parse, call one identity service with the principal, render.
``router`` is a small route table that also writes the OpenAPI document from the msgspec
types in ``schemas``; errors are the same envelope as everywhere (``{"errors": [...]}``).
"""
