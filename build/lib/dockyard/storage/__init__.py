"""Blob bytes and nothing else: the StorageDriver protocol, the path layout and the drivers.

Storage knows nothing of repositories, users, tags or the database. It may import only
``dockyard.core`` and config types. Concrete drivers live in ``storage.drivers`` and are built
only by ``dockyard.bootstrap``.
"""
