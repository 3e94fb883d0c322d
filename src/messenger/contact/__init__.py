"""contact-service: friend requests and friendships (gRPC `messenger.contact.v1`)."""
