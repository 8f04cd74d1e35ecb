"""The tables of the `reporting` domain (backend/services/reporting/)."""
