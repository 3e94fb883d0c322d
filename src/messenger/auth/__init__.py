"""auth-service: accounts, password hashes, email verification and password reset."""
