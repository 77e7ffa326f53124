"""Vulnerabilities: OSV advisories imported offline (``loader.py``, ``service.py``), matched
against the stored package inventories of images in SQL (``matcher.py``), findings and
summaries per image and platform, search by CVE, CSV/JSON export (``export.py``), scans on
push through the job queue (``on_push.py``).

Uses the store protocols in ``store.py`` and the supply chain's ``InventoryBuilder`` (an
image's packages come from its layers' stored inventories, never from re-reading images
that were indexed already).
"""
