"""Small handler modules the local stack's integration tests deploy instead of the real ones.

Each records the events it receives in ``calls`` so tests can look at exactly what the
door, the front, the rule engine or the scheduler delivered.
"""
