"""Shared core: settings, database and migrations, domain types, tokens, telemetry, audit
and custody persistence. It imports nothing above it."""

__version__ = "0.1.0"
