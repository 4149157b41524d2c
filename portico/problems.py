"""RFC 9457 problem details: the error body of every function response.

Handlers raise these to answer with a 4xx; the runtime turns any other exception into a 500
that carries the request id and nothing else.
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"


PROBLEM_TYPES = "https://portico.dev/problems/"


class Problem(Exception):
    status: int = 500
    title: str = "Internal Server Error"
    # RFC 9457's `type`: "about:blank" says the status's title is the whole story; a problem
    # of Portico's own that a client may want to tell apart has a URI of its own.
    type: str = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail or title or self.title)
        self.status = status or self.status
        self.title = title or self.title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        if request_id:
            body["requestId"] = request_id
        return body


class BadRequest(Problem):
    status = 400
    title = "Bad Request"


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"


class NotFound(Problem):
    status = 404
    title = "Not Found"


class MethodNotAllowed(Problem):
    status = 405
    title = "Method Not Allowed"


class Conflict(Problem):
    status = 409
    title = "Conflict"


class ContentTooLarge(Problem):
    status = 413
    title = "Content Too Large"


class UnsupportedMediaType(Problem):
    status = 415
    title = "Unsupported Media Type"


class Unprocessable(Problem):
    status = 422
    title = "Unprocessable Content"


class InternalError(Problem):
    status = 500
    title = "Internal Server Error"


class ServiceUnavailable(Problem):
    status = 503
    title = "Service Unavailable"


class GatewayTimeout(Problem):
    status = 504
    title = "Gateway Timeout"


class BadGateway(Problem):
    """For a handler to raise when a dependency answered with a 5xx of its own."""

    status = 502
    title = "Bad Gateway"
    type = PROBLEM_TYPES + "bad-gateway"


class DependencyUnavailable(Problem):
    """A dependency could not be reached (connection refused or reset, or no base URL set)."""

    status = 503
    title = "Service Unavailable"
    type = PROBLEM_TYPES + "dependency-unavailable"


class DependencyTimeout(Problem):
    """A dependency did not answer within its timeout_seconds or what was left of the
    function's deadline."""

    status = 504
    title = "Gateway Timeout"
    type = PROBLEM_TYPES + "dependency-timeout"


class EgressDenied(Problem):
    """A handler connected to a host:port its manifest does not declare. A Problem, not an
    OSError, so that a library does not take it for a network error and carry on."""

    status = 500
    title = "Internal Server Error"
    type = PROBLEM_TYPES + "egress-denied"
