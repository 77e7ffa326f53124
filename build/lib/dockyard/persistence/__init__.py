"""The only place SQL lives: schema, migrations and the stores, on SQLite or PostgreSQL.

``stores.py`` holds the protocols services depend on; ``sql/`` implements them once, against a
small ``Database`` interface (statements and transactions) that each backend provides:
``sqlite/`` (embedded, inline) and ``postgres/`` (psycopg 3 with a connection pool). Stores
expose async, use-case-shaped methods so that each check-then-write happens in one
transaction. May import only ``dockyard.core`` and config types; never ``storage``.
"""
