"""Locustfiles, one per load shape."""
