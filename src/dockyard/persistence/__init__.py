"""The only place SQL lives: schema, migrations and one store per aggregate.

Stores expose async, use-case-shaped methods so that each check-then-write happens in one
transaction. May import only ``dockyard.core`` and config types; never ``storage``.
"""
