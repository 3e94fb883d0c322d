"""One error vocabulary for every service.

Domain and service code raise `MessengerError`; it is mapped to a gRPC status once
(`platform.grpc`) and to an HTTP response once (`platform.http`). The API code string
and HTTP status of each member are the public contract of API.md.
"""

from __future__ import annotations

import enum

import grpc


class ErrorCode(enum.Enum):
    """(API code, HTTP status, gRPC status) of every error a client can see."""

    INVALID_REQUEST = ("invalid_request", 400, grpc.StatusCode.INVALID_ARGUMENT)
    VALIDATION_FAILED = ("validation_failed", 422, grpc.StatusCode.INVALID_ARGUMENT)
    UNAUTHENTICATED = ("unauthenticated", 401, grpc.StatusCode.UNAUTHENTICATED)
    TOKEN_EXPIRED = ("token_expired", 401, grpc.StatusCode.UNAUTHENTICATED)
    SESSION_REVOKED = ("session_revoked", 401, grpc.StatusCode.UNAUTHENTICATED)
    INVALID_CREDENTIALS = ("invalid_credentials", 401, grpc.StatusCode.UNAUTHENTICATED)
    WRONG_CURRENT_PASSWORD = ("invalid_credentials", 403, grpc.StatusCode.PERMISSION_DENIED)
    INVALID_TOKEN = ("invalid_token", 400, grpc.StatusCode.FAILED_PRECONDITION)
    INVALID_REFRESH_TOKEN = ("invalid_refresh_token", 401, grpc.StatusCode.UNAUTHENTICATED)
    NOT_FRIENDS = ("not_friends", 403, grpc.StatusCode.PERMISSION_DENIED)
    NOT_FOUND = ("not_found", 404, grpc.StatusCode.NOT_FOUND)
    EMAIL_TAKEN = ("email_taken", 409, grpc.StatusCode.ALREADY_EXISTS)
    USERNAME_TAKEN = ("username_taken", 409, grpc.StatusCode.ALREADY_EXISTS)
    ALREADY_FRIENDS = ("already_friends", 409, grpc.StatusCode.ALREADY_EXISTS)
    CONFLICT = ("conflict", 409, grpc.StatusCode.ABORTED)
    PRECONDITION_FAILED = ("precondition_failed", 412, grpc.StatusCode.FAILED_PRECONDITION)
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413, grpc.StatusCode.INVALID_ARGUMENT)
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, grpc.StatusCode.UNIMPLEMENTED)
    RATE_LIMITED = ("rate_limited", 429, grpc.StatusCode.RESOURCE_EXHAUSTED)
    UNAVAILABLE = ("unavailable", 503, grpc.StatusCode.UNAVAILABLE)
    INTERNAL = ("internal", 500, grpc.StatusCode.INTERNAL)

    @property
    def api_code(self) -> str:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]

    @property
    def grpc_status(self) -> grpc.StatusCode:
        return self.value[2]


class MessengerError(Exception):
    """The root of every error that crosses a service boundary."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retry_after: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.field = field

    def __repr__(self) -> str:
        return f"MessengerError({self.code.name}, {self.message!r})"


def not_found(what: str = "resource") -> MessengerError:
    return MessengerError(ErrorCode.NOT_FOUND, f"No such {what}.")


def invalid(message: str, field: str | None = None) -> MessengerError:
    return MessengerError(ErrorCode.VALIDATION_FAILED, message, field=field)
