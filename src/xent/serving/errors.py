"""Errors that the server returns to clients, with their REST and gRPC codes.

A `ServingError` carries one of TensorFlow's canonical status codes; the REST
front end turns it into `{"error": message}` with the HTTP status TensorFlow
Serving uses for that code, the gRPC front end into the same gRPC status code.
Anything else raised while answering is an internal error: it is logged with
its traceback and the client only gets "Internal error".
"""

from __future__ import annotations

import enum

__all__ = ["Code", "ServingError"]


class Code(enum.Enum):
    """Canonical status codes; the names are those of `grpc.StatusCode`."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    NOT_FOUND = "NOT_FOUND"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"

    @property
    def http_status(self) -> int:
        """The HTTP status of the REST answer (TF Serving's `ToHTTPStatusCode`)."""
        return _HTTP_STATUS[self]


_HTTP_STATUS = {
    Code.INVALID_ARGUMENT: 400,
    Code.FAILED_PRECONDITION: 400,
    Code.NOT_FOUND: 404,
    Code.UNIMPLEMENTED: 501,
    Code.DEADLINE_EXCEEDED: 504,
    Code.UNAVAILABLE: 503,
    Code.INTERNAL: 500,
}


class ServingError(Exception):
    """An error answered to the client with a status code and a message.

    Args:
        code: The status code.
        message: One line for the client; it names the model, version, input
            or field at fault.
    """

    def __init__(self, code: Code, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def invalid(cls, message: str) -> ServingError:
        """An `INVALID_ARGUMENT` error (HTTP 400)."""
        return cls(Code.INVALID_ARGUMENT, message)

    @classmethod
    def not_found(cls, message: str) -> ServingError:
        """A `NOT_FOUND` error (HTTP 404)."""
        return cls(Code.NOT_FOUND, message)

    @classmethod
    def deadline_exceeded(cls, message: str) -> ServingError:
        """A `DEADLINE_EXCEEDED` error (HTTP 504)."""
        return cls(Code.DEADLINE_EXCEEDED, message)
