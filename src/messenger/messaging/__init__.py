"""messaging-service: direct conversations, messages and read positions."""
