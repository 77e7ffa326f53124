"""dockyard.cli: the ``dockyard`` command line (serve, migrate, gc, import, config, admin)."""
