"""Error hierarchy: each class carries its HTTP status and a stable code.

One middleware (`control_plane.middleware.error_middleware`) turns these into JSON, so
handlers raise and never build error responses themselves.
"""

from typing import Any


class EvrError(Exception):
    """Base for every error the API reports to its caller."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": {"code": self.code, "message": self.message}}
        if self.details is not None:
            body["error"]["details"] = self.details
        return body


class BadRequest(EvrError):
    status = 400
    code = "bad_request"


class ValidationFailed(EvrError):
    status = 422
    code = "validation_failed"


class Unauthenticated(EvrError):
    status = 401
    code = "unauthenticated"


class Forbidden(EvrError):
    status = 403
    code = "forbidden"


class NotFound(EvrError):
    status = 404
    code = "not_found"


class Conflict(EvrError):
    """The request is well-formed but the resource's state does not allow it."""

    status = 409
    code = "conflict"


class Gone(EvrError):
    """A join link that was used, revoked or has expired."""

    status = 410
    code = "gone"


class PayloadTooLarge(EvrError):
    status = 413
    code = "payload_too_large"


class DependencyUnavailable(EvrError):
    """The SFU or the database did not answer; the caller may retry."""

    status = 503
    code = "dependency_unavailable"
