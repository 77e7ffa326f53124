"""Supply chain: what each layer installs (indexed once per layer digest), an image's
inventory, and SBOMs (SPDX 2.3, CycloneDX 1.6) attached to images as OCI 1.1 referrers.

Uses the ``StorageDriver`` protocol, the store protocols in ``store.py`` and the registry's
own upload and manifest services (an SBOM is pushed like any other artifact).
"""
