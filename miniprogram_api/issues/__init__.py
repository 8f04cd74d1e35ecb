"""Residents' issues and images; deputies' inbox and replies; the staff queue."""
