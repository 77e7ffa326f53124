"""Replication: copies of images between dockyard and other registries (docs/replication.md).

``policy.py`` is a policy's definition and its validation, ``filters.py`` what a policy
selects (repositories, tags, platforms), ``peer.py`` the HTTP side (the upstream client, with
pushes), ``endpoints.py`` / ``local.py`` the two ends a copy reads from and writes to (a peer
over HTTP, this registry through its services), ``copier.py`` the copy of one image (blobs in
parallel, manifests byte for byte, referrers and signature tags), ``runs.py`` a run with its
per-image history, ``service.py`` what the API and CLI call, ``triggers.py`` the on-push
consumer and the schedule.

May import core, auth, config types, services (upstream, outbound, jobs, events), the storage
protocol and persistence protocols; never a concrete driver or store.
"""
