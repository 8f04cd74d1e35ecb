"""Scan-to-find, stations nearby, codes and posters, follows."""
