"""Deputies' public profiles and staff managing deputies, their terms and groupings."""
