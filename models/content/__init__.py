"""The tables of the `content` domain (backend/services/content/)."""
