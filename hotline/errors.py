"""The core's errors. Each carries its HTTP status; ``str()`` holds ids, never content."""

from __future__ import annotations


class HotlineError(Exception):
    """Base of every error the core raises on purpose."""

    status_code = 500


class SettingsError(HotlineError):
    """A setting is missing or malformed."""


class NotFoundError(HotlineError):
    """The thing asked for does not exist (or may not be revealed)."""

    status_code = 404


class ConflictError(HotlineError):
    """The request clashes with the current state."""

    status_code = 409


class InvalidInputError(HotlineError):
    """The input is not acceptable."""

    status_code = 400


class RateLimitedError(HotlineError):
    """Too many requests of this kind right now."""

    status_code = 429


class SealError(HotlineError):
    """A ciphertext could not be sealed or opened."""


class KeyFileError(HotlineError):
    """A key file is missing, unreadable or locked."""


class StorageUnavailableError(HotlineError):
    """The database could not take the write; nothing was saved."""

    status_code = 503
