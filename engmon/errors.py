"""The exceptions engmon raises for things a user can fix.

Every one of them carries a single line that names what went wrong and where; the CLI prints
that line and exits with code 2. Anything outside this tree is a bug and keeps its traceback.

    EngmonError
    ├── ConfigError          campaign TOML: unknown key, wrong type, missing environment variable
    ├── InputError           a file engmon was asked to read
    │   ├── FileFormatError  unknown format, missing column, unparsable value, binary junk
    │   └── EmptyInputError  the file holds no observations
    └── SourceError          a feed failed while being polled (shown as source status, never fatal)
        ├── SourceUnreachable    connection refused, DNS failure, timeout
        ├── SourceAuthError      401/403, missing or rejected token
        ├── SourceRateLimited    429 or an exhausted rate-limit window (carries retry_after)
        ├── SourceNotFound       404: the post, site or link does not exist (or is private)
        └── SourceResponseError  5xx, invalid JSON, a response shaped unlike the vendor's docs
"""

from __future__ import annotations


class EngmonError(Exception):
    """Base of every error a user can act on; str() is the one line to show."""


class ConfigError(EngmonError):
    """The campaign configuration is wrong; the message names file, key and fix."""


class InputError(EngmonError):
    """A file engmon was asked to read cannot be used."""


class FileFormatError(InputError):
    """The file is not in a format engmon reads, or a column/value in it is wrong."""


class EmptyInputError(InputError):
    """The file holds no observations at all."""


class SourceError(EngmonError):
    """A poll of a source failed; `retryable` says whether backing off may help."""

    retryable: bool = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceUnreachable(SourceError):
    """Connection refused, DNS failure or timeout."""


class SourceAuthError(SourceError):
    """The credentials were missing or rejected (401/403)."""

    retryable = False


class SourceRateLimited(SourceError):
    """The vendor asked us to slow down (429 or an exhausted window)."""


class SourceNotFound(SourceError):
    """The thing polled does not exist or is not visible (404, deleted or private post)."""

    retryable = False


class SourceResponseError(SourceError):
    """The server failed (5xx) or answered with something unlike its documented shape."""
