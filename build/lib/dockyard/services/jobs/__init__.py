"""The job queue: durable background work in the metadata database, shared by every node.

``queue.py`` is the public face (:class:`JobQueue`: ``enqueue`` and what a runner needs to
take, renew and finish jobs); ``model.py`` holds what handlers see (:class:`Job`, the errors
that say "retry" or "give up") and the retry backoff; ``overview.py`` reads the queue for
``dockyard jobs`` and the metrics. The runner that executes jobs is ``dockyard.jobs.runner``
(an adapter: it calls services, handlers are registered by kind in bootstrap).

May import ``dockyard.core`` and the persistence protocols (``persistence.job_records``),
never a concrete store. See docs/jobs.md.
"""
