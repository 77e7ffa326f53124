"""dockyard: a self-hosted container image registry.

Layers (checked by import-linter, see pyproject.toml): ``core`` (pure domain) <- ``storage`` and
``persistence`` <- ``auth`` <- ``services`` <- ``api`` / ``jobs`` / ``cli``; ``bootstrap`` wires
concrete drivers and stores together.
"""

__version__ = "0.1.0"
