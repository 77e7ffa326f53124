"""Background work on a database-backed queue with leases (gc, purge, retention, replication).

Calls services only. Today the upload purger runs inside the server process
(:mod:`dockyard.services.maintenance`); the queue arrives with garbage collection.
"""
