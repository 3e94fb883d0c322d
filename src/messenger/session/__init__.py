"""session-service: sessions, rotating refresh tokens, and the keys that sign access tokens."""
