"""EVR control plane: visits, LiveKit rooms, least-privilege tokens and webhooks."""

__version__ = "0.1.0"
