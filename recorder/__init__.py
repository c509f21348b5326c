"""The evidential recorder: a worker process that records statements from LiveKit rooms."""
