"""Concrete storage drivers. Only ``dockyard.bootstrap`` imports these."""
