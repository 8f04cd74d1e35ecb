"""The tables of the `deputies` domain (backend/services/deputies/)."""
