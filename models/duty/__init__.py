"""The tables of the `duty` domain (backend/services/duty/)."""
