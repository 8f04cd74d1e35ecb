"""The tables of the `stations` domain (backend/services/stations/)."""
