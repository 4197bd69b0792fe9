"""Complexity: how concentrated or spread out a map is."""
