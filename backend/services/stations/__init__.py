"""Stations (联络站) as residents and staff meet them: scan-to-find and a station's card
(`stations`, cached by `scan_cache`), stations nearby (`station_places`), the printed code and its
poster (`station_codes`), residents following a station (`follows`), and staff creating, editing
and closing stations (`station_admin`)."""

MAY_CALL = ("duty", "reference")
