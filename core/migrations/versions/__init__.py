"""Alembic revisions, oldest first by their number; a package so that the wheel carries them."""
