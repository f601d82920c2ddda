"""Errors the emulator answers with, in the body shape the real API uses.

Handlers raise :class:`ApiError`; one middleware turns it into
``{"error": {"message", "type", "param", "code"}}`` with the right status, so
no handler builds an error response by hand and every refusal carries the
same fields the SDK reads (``err.code``, ``err.param``, ``err.type``).
"""

from __future__ import annotations

from ftd.errors import FtdError

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


class ApiError(FtdError):
    """An answer other than success, with everything needed to render it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code or type}: {message}")
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_found(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(404, message, param=param, code=code)


def missing_object(kind: str, object_id: str, *, param: str | None = None) -> ApiError:
    return not_found(f"No such {kind}: '{object_id}'", param=param)


def model_not_found(model: str) -> ApiError:
    return not_found(
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
