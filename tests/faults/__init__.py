"""Fault tests: processes killed, Redis restarted, the database locked or full."""
