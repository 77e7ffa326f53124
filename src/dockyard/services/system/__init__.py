"""The running system as administrators see it: health probes and effective settings.

``health`` feeds ``/debug/health`` (storage and database probes); ``settings`` is
``/api/v1/system/settings`` (the effective configuration without secrets, the read-only switch).
"""
