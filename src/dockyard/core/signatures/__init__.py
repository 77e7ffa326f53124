"""Signature formats and their verification: pure, no I/O.

- ``trust.py``: trusted signers (a public key, or a certificate authority with identity rules)
  and X.509 chain checks;
- ``cosign.py``: cosign's tag-scheme simple signing layers and Sigstore bundles (v0.3);
- ``notation.py``: Notary Project signature envelopes (JWS);
- ``model.py``: what a verification found (``Finding``).

Imports nothing from dockyard outside ``core``; third-party: ``cryptography``, ``msgspec``.
"""
