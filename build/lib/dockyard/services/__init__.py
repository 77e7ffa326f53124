"""Use cases: the only layer that combines storage, persistence and auth.

Every public method takes the calling :class:`~dockyard.auth.principal.Principal` and asks
``auth.policy`` before acting. Services see storage only through the ``StorageDriver``
protocol and metadata only through the store protocols.
"""
