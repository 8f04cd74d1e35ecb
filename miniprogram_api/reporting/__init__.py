"""Staff statistics."""
