"""The tables of the `privacy` domain (backend/services/privacy/)."""
