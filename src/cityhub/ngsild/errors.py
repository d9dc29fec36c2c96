"""The NGSI-LD error family (ETSI GS CIM 009, clause 5.5.2, table 5.5.3-1).

One base class carries the error-type URI, a title and a detail; one subclass per error type.
Nothing here knows HTTP: the API layer holds the single table from error type to status code and
renders every error as ProblemDetails (RFC 7807) in one place.
"""

from __future__ import annotations

from typing import Any

ETSI_ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
CITYHUB_ERRORS = "https://cityhub.dev/errors/"


class NgsiLdError(Exception):
    """Base of every error that may reach a client. `detail` must be safe to show."""

    type_uri: str = ETSI_ERRORS + "InternalError"
    title: str = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """The ProblemDetails body of this error."""
        body: dict[str, Any] = {"type": self.type_uri, "title": self.title, "detail": self.detail}
        body.update(self.extra)
        return body


class InvalidRequest(NgsiLdError):
    """The request's syntax is wrong: not JSON, wrong JSON type at the top level, bad header."""

    type_uri = ETSI_ERRORS + "InvalidRequest"
    title = "Invalid request"


class BadRequestData(NgsiLdError):
    """The request is well-formed but its content is not acceptable."""

    type_uri = ETSI_ERRORS + "BadRequestData"
    title = "Bad request data"


class AlreadyExists(NgsiLdError):
    type_uri = ETSI_ERRORS + "AlreadyExists"
    title = "Already exists"


class OperationNotSupported(NgsiLdError):
    type_uri = ETSI_ERRORS + "OperationNotSupported"
    title = "Operation not supported"


class ResourceNotFound(NgsiLdError):
    type_uri = ETSI_ERRORS + "ResourceNotFound"
    title = "Resource not found"


class InternalError(NgsiLdError):
    type_uri = ETSI_ERRORS + "InternalError"
    title = "Internal error"


class TooComplexQuery(NgsiLdError):
    type_uri = ETSI_ERRORS + "TooComplexQuery"
    title = "Too complex query"


class TooManyResults(NgsiLdError):
    type_uri = ETSI_ERRORS + "TooManyResults"
    title = "Too many results"


class LdContextNotAvailable(NgsiLdError):
    type_uri = ETSI_ERRORS + "LdContextNotAvailable"
    title = "JSON-LD @context not available"


class NonexistentTenant(NgsiLdError):
    type_uri = ETSI_ERRORS + "NonexistentTenant"
    title = "Nonexistent tenant"


class NotImplementedFeature(NgsiLdError):
    """A part of the specification CityHub knows of but does not implement (yet)."""

    type_uri = CITYHUB_ERRORS + "NotImplemented"
    title = "Not implemented"


class NotAcceptable(NgsiLdError):
    """No representation the client accepts can be produced."""

    type_uri = CITYHUB_ERRORS + "NotAcceptable"
    title = "Not acceptable"


class UnsupportedMediaType(NgsiLdError):
    type_uri = CITYHUB_ERRORS + "UnsupportedMediaType"
    title = "Unsupported media type"


class PayloadTooLarge(NgsiLdError):
    type_uri = CITYHUB_ERRORS + "PayloadTooLarge"
    title = "Payload too large"


class MethodNotAllowed(NgsiLdError):
    type_uri = CITYHUB_ERRORS + "MethodNotAllowed"
    title = "Method not allowed"


class StoreUnavailable(NgsiLdError):
    """The store cannot be reached; the client may retry later."""

    type_uri = CITYHUB_ERRORS + "StoreUnavailable"
    title = "Store unavailable"


class Conflict(NgsiLdError):
    """A concurrent write changed the entity first; the operation may be retried."""

    type_uri = CITYHUB_ERRORS + "Conflict"
    title = "Conflict"
