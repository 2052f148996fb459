"""Hotline: an anonymous tip line and triage service for anti-trafficking hotlines."""

__version__ = "0.1.0"
