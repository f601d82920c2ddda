"""Azure's auth rules and error bodies, one shape per URL family.

- ``/openai/v1/…`` answers ``AzureErrorResponse`` (v1 spec,
  /components/schemas/AzureErrorResponse): ``{"error": {"code", "message",
  "param"}}``, ``param`` left out rather than null since the spec types it as
  a plain string.
- ``/openai/…`` with ``api-version`` answers the authoring ``ErrorResponse``
  (/definitions/ErrorResponse), whose ``code`` must be one of
  /definitions/ErrorCode/enum; the specific code is mapped from the status.
  Relaxation: the deployment codes below keep their own code on every shape,
  as Azure's chat routes answer them (``{"error": {"code":
  "DeploymentNotFound", …}}`` in public bug reports), and no spec file we hold
  declares the chat route of the api-version shape.
- ARM (``/subscriptions/…``) answers the common-types ``ErrorResponse``:
  ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd.emulator.apierrors import ApiError
from ftd.emulator.traffic import ApiSurface, json_response

if TYPE_CHECKING:
    from aiohttp import web

V1 = "v1"
AUTHORING = "authoring"
ARM = "arm"
DATA_PLANE_PREFIX = "/openai/"
V1_PREFIX = "/openai/v1/"
ARM_PREFIX = "/subscriptions/"

DEPLOYMENT_NOT_FOUND = "DeploymentNotFound"
DEPLOYMENT_NOT_READY = "DeploymentNotReady"
VERBATIM_CODES = frozenset({DEPLOYMENT_NOT_FOUND, DEPLOYMENT_NOT_READY})
_AUTHORING_CODES = {
    400: "invalidPayload",
    401: "unauthorized",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    413: "invalidPayload",
    429: "tooManyRequests",
    503: "serviceUnavailable",
}
KEY_REFUSED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API endpoint "
    "for your resource."
)


def shape_of(path: str) -> str:
    if path.startswith(ARM_PREFIX):
        return ARM
    if path.startswith(V1_PREFIX) or path == V1_PREFIX.rstrip("/"):
        return V1
    return AUTHORING


def error_body(shape: str, error: ApiError) -> dict[str, dict[str, object]]:
    code = error.code or str(error.status)
    if shape == ARM:
        return {"error": {"code": code, "message": error.message}}
    if shape == AUTHORING:
        if code not in VERBATIM_CODES:
            code = _AUTHORING_CODES.get(error.status, "internalFailure")
        detail: dict[str, object] = {"code": code, "message": error.message or code}
        if error.param:
            detail["target"] = error.param
        return {"error": detail}
    detail = {"code": code, "message": error.message}
    if error.param:
        detail["param"] = error.param
    return {"error": detail}


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class AzureSurface(ApiSurface):
    """Faults, auth and stats apply to the data plane and ARM; admin routes stay open."""

    chat_routes = frozenset(
        {
            "POST /openai/v1/chat/completions",
            "POST /openai/deployments/{deployment}/chat/completions",
        }
    )

    def is_api(self, path: str) -> bool:
        return path.startswith((DATA_PLANE_PREFIX, ARM_PREFIX))

    def check_auth(self, request: web.Request) -> None:
        if shape_of(request.path) == ARM:
            if not request.headers.get("Authorization"):
                raise ApiError(
                    401,
                    "Authentication failed. The 'Authorization' header is missing.",
                    code="AuthenticationFailed",
                )
            if _bearer(request) is None:
                raise ApiError(
                    401,
                    "The authentication scheme of the 'Authorization' header must be Bearer.",
                    code="InvalidAuthenticationToken",
                )
            return
        if request.headers.get("api-key", "").strip() or _bearer(request) is not None:
            return
        raise ApiError(401, KEY_REFUSED, code="401")

    def error_response(self, request: web.Request, error: ApiError) -> web.Response:
        response = json_response(error_body(shape_of(request.path), error), error.status)
        response.headers.update(error.headers)
        return response

    def answer_headers(self, request: web.Request, request_id: str) -> dict[str, str]:
        if shape_of(request.path) == ARM:
            return {"x-ms-request-id": request_id, "x-ms-correlation-request-id": request_id}
        return {"x-request-id": request_id, "apim-request-id": request_id}
