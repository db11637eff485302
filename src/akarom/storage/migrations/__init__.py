"""Alembic migrations for ``akarom.storage``; ``akarom.storage.db.migrate`` runs them."""
