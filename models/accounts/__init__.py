"""The tables of the `accounts` domain (backend/services/accounts/)."""
