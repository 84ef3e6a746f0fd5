"""Assignments: checks with points over a lab and a submission (pure: schema, kinds, scoring)."""
