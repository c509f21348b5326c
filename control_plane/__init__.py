"""EVR control plane: the HTTP service for visits, LiveKit rooms, tokens, webhooks and pages."""
