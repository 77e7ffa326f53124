"""The PostgreSQL backend for scaled-out deployments (psycopg 3, one async pool per process).

Import ``postgres.database.PostgresDatabase`` where it is used: psycopg takes ~0.1 s to import,
which SQLite deployments and short CLI commands need not pay.
"""
