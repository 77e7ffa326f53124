"""Signature formats and their verification: pure, no I/O.

- ``trust.py``: trusted signers (a public key, or a certificate authority with identity rules)
  and X.509 chain checks;
- ``cosign.py``: cosign's tag-scheme simple signing layers and Sigstore bundles (v0.3);
- ``notation.py``, ``notation_cose.py``: Notary Project signature envelopes (JWS, COSE);
- ``model.py``: what a signature format yields for verification (``SignedData``).

Imports nothing from dockyard outside ``core``; third-party: ``cryptography``, ``msgspec``,
``cbor2``.
"""
