"""Pure domain logic with no I/O: digests, names, media types, manifests and the error table.

Imports nothing else from dockyard.
"""
