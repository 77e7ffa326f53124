"""Importing a registry:2 (Distribution) storage root: in place, or by copying blobs.

``importer`` adopts the root's repositories, tags and manifests into the metadata database;
``import_copy`` copies a blob that cannot be used in place, verified, into dockyard's storage.
"""
