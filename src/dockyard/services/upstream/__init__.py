"""Upstream registries: the outbound client and the pull-through cache (docs/mirror.md).

``client.py`` is the one outbound HTTP client for registries (httpx): every URL it connects to,
token realms and redirect targets included, passes the outbound guard first; it answers
registry auth challenges (basic, bearer tokens cached per scope), retries connection failures
and stops asking a failing upstream for a while (``breaker.py``). ``auth.py`` parses
challenges and keeps tokens. ``flight.py`` is the single-flight
fan-out of one blob download to every client waiting for it; ``proxy.py`` is the cache itself
(manifests, tags, blobs, referrers); ``tags.py`` remembers when a tag was last revalidated.
``specs.py`` says what one upstream is (URL, prefix, name mapping, credentials),
``routing.py`` which upstream's cache serves a repository (configured and stored upstreams),
``admin.py`` adds and removes upstreams at run time (``/api/v1/mirrors``).

May import core, auth, config types, services (blobs, publishing, telemetry), the storage
protocol and persistence protocols; never a concrete driver or store.
"""
