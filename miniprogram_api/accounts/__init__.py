"""Sign-in and the caller's own account (`/auth/...`)."""
