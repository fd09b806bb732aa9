"""Route modules of the operator API, one Powertools router per area of base data."""
