"""The errors of access control: 401, 403 and 429, as NGSI-LD ProblemDetails."""

from __future__ import annotations

from cityhub.ngsild.errors import CITYHUB_ERRORS, NgsiLdError


class Unauthenticated(NgsiLdError):
    """No credentials where some are needed, or credentials the hub does not accept."""

    type_uri = CITYHUB_ERRORS + "Unauthenticated"
    title = "Unauthenticated"


class Forbidden(NgsiLdError):
    """The caller is known but its role may not do this."""

    type_uri = CITYHUB_ERRORS + "Forbidden"
    title = "Forbidden"


class TooManyRequests(NgsiLdError):
    """The caller's rate limit is used up; `retry_after` seconds until a request is allowed."""

    type_uri = CITYHUB_ERRORS + "TooManyRequests"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UriTooLong(NgsiLdError):
    type_uri = CITYHUB_ERRORS + "UriTooLong"
    title = "URI too long"
