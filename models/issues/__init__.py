"""The tables of the `issues` domain (backend/services/issues/)."""
