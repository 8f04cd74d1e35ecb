"""Subscribe-message grants."""
