"""Background work: the runner (``runner.py``, ``execution.py``) and the handlers of the job
kinds dockyard itself schedules (gc, retention, upload purge, audit retention).

Calls services only (never persistence, drivers or caches): jobs live in the durable queue
of :mod:`dockyard.services.jobs`, so across every node and worker each scheduled run happens
once, and a job whose node died is taken over by another. See docs/jobs.md.
"""
