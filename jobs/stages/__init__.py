"""Operators shared by the jobs: each moves records and state, the logic lives in plain Python."""
