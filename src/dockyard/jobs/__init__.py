"""Background work on a schedule, with leases in the database (gc, retention, quota usage).

Calls services only (never persistence, drivers or caches). Each scheduled job takes its lease
first (:mod:`dockyard.services.schedule`), so across every node and worker a job runs once
per interval. The upload purger still runs on its own inside the server process
(:mod:`dockyard.services.maintenance`).
"""
