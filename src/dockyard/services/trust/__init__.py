"""Signatures that are enforced: trust policies per project (``policies.py``), the signatures
stored for an image (``evidence.py``), the signature check (``signature_check.py``) and the
pull-time gate it plugs into (``gate.py``). Imports core, persistence records and the
``StorageDriver`` protocol; never api, cli, jobs or concrete drivers."""
