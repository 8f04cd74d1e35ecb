"""Periodic jobs: the schedule table, the scheduler process and its leader lock, `jobs` commands."""
