"""Alembic migrations of the EVR database: env.py and one module per revision in versions/.

`core.db.migrate` applies them at start-up and for `evr migrate`; the `alembic` command reads
`[tool.alembic]` in pyproject.toml, for writing revisions and for printing a revision's SQL.
"""
