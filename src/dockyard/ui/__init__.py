"""The web UI: server-rendered pages (Jinja2, a vendored htmx) at ``/`` and under ``/ui/``.

An adapter like ``api/``: it calls services (browsing, manifests, projects, logins) with the
signed-in principal and never touches persistence or storage. It owns its sessions
(``sessions.py``), sign-in (``signin.py``), CSRF and security headers (``app.py``), and its
templates and static files (``templates/``, ``static/``; no request to any other host).
"""
