"""The tables of the `reference` domain (backend/services/reference/)."""
