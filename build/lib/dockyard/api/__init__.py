"""Thin HTTP adapters: parse a request, call a service, render the answer.

The registry API (``/v2``) is plain ASGI for speed; every error becomes the OCI envelope in
one place (:mod:`dockyard.api.errors`). Adapters call services only, never persistence or a
concrete storage driver.
"""
