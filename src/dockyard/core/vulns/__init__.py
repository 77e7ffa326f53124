"""Vulnerability data, pure: OSV records read into advisories (``osv.py``), severities from
CVSS vectors and OSV labels (``severity.py``), and whether an installed version falls in an
advisory's affected ranges, compared per ecosystem (``versions.py``).

Imports nothing from dockyard but ``core``; no I/O.
"""
