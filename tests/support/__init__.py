"""Shared test infrastructure: network namespaces and real livekit-server processes."""
