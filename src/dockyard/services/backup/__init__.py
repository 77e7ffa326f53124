"""Backup and restore while serving, and OCI image layout export and import (docs/operations.md).

``backup`` takes a consistent metadata snapshot and copies the blobs it records, by digest and
incrementally, to a destination store; ``restore`` brings a backup into an empty registry;
``layout`` writes and reads OCI image layouts. Uses storage through the ``StorageDriver``
protocol and the database through ``persistence.backup_records``; never api, cli or drivers.
"""
