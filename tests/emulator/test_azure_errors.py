"""Azure's auth rules and error bodies: who is refused, and in which shape."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

from tests.emulator.azure_support import (
    API_VERSION,
    KEY,
    arm_client,
    azure_emulator,
    deployment_url,
    versioned_client,
)

pytestmark = pytest.mark.anyio


async def _get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_data_plane_without_a_key_is_refused_in_azures_shape() -> None:
    async with azure_emulator() as emulator:
        for url in (
            f"{emulator.base_url}/models",
            f"{emulator.root_url}/openai/models?api-version={API_VERSION}",
            f"{emulator.base_url}/fine_tuning/jobs",
        ):
            status, body = await _get(url, {})
            assert status == 401, url
            assert body["error"]["message"].startswith("Access denied"), body
            assert "param" not in body["error"]
        status, body = await _get(f"{emulator.base_url}/models", {"api-key": ""})
        assert status == 401
        status, body = await _get(f"{emulator.base_url}/models", {"Authorization": "Basic abc"})
        assert status == 401
        v1_status, _ = await _get(f"{emulator.base_url}/models", {"api-key": KEY})
        bearer_status, _ = await _get(
            f"{emulator.base_url}/models", {"Authorization": "Bearer entra-token"}
        )
        assert (v1_status, bearer_status) == (200, 200)
        # The admin routes stay open, and the refusals were counted as API traffic.
        status, stats = await _get(f"{emulator.root_url}/_emulator/stats", {})
        assert status == 200
        assert stats["statuses"]["401"] == 5


async def test_sdk_clients_authenticate_with_a_key_or_an_entra_token() -> None:
    async with azure_emulator() as emulator:
        async with versioned_client(emulator) as with_key:
            assert (await with_key.models.list()).data
        async with openai.AsyncAzureOpenAI(
            azure_endpoint=emulator.root_url,
            azure_ad_token="entra-token",
            api_version=API_VERSION,
            max_retries=0,
        ) as with_token:
            assert (await with_token.models.list()).data


async def test_arm_wants_a_bearer_token() -> None:
    async with azure_emulator() as emulator, arm_client() as arm:
        missing = await arm.call("GET", deployment_url(emulator, "d1"), token=None)
        assert missing.status == 401
        assert missing.body["error"]["code"] == "AuthenticationFailed"
        basic = await arm.session.get(
            deployment_url(emulator, "d1"), headers={"Authorization": "Basic abc"}
        )
        assert basic.status == 401
        assert (await basic.json())["error"]["code"] == "InvalidAuthenticationToken"
        basic.release()
        api_key_only = await arm.session.get(
            deployment_url(emulator, "d1"), headers={"api-key": KEY}
        )
        assert api_key_only.status == 401
        api_key_only.release()
        authorised = await arm.call("GET", deployment_url(emulator, "d1"))
        assert authorised.status == 404  # past auth: the deployment does not exist
        assert authorised.body["error"]["code"] == "DeploymentNotFound"
        assert "x-ms-request-id" in {k.lower() for k in authorised.headers}


async def test_error_bodies_differ_by_shape() -> None:
    async with azure_emulator() as emulator:
        headers = {"api-key": KEY}
        status, v1 = await _get(f"{emulator.base_url}/fine_tuning/jobs/ftjob-{'0' * 32}", headers)
        assert status == 404
        assert v1["error"]["param"] == "fine_tuning_job_id"
        status, versioned = await _get(
            f"{emulator.root_url}/openai/fine_tuning/jobs/ftjob-{'0' * 32}"
            f"?api-version={API_VERSION}",
            headers,
        )
        assert status == 404
        assert versioned["error"]["code"] == "notFound"  # authoring ErrorCode enum
        assert versioned["error"]["target"] == "fine_tuning_job_id"
        status, body = await _get(f"{emulator.root_url}/openai/models", headers)
        assert status == 400
        assert "api-version" in body["error"]["message"]
        status, body = await _get(f"{emulator.base_url}/models?api-version=2024-01-01", headers)
        assert status == 400
        status, _ = await _get(f"{emulator.base_url}/models?api-version=preview", headers)
        assert status == 200


async def test_faults_and_limits_apply_to_both_planes_in_azure_shapes() -> None:
    async with azure_emulator(error_rate=1.0) as emulator, arm_client() as arm:
        status, body = await _get(f"{emulator.base_url}/models", {"api-key": KEY})
        assert status in (500, 502, 503)
        assert set(body["error"]) <= {"code", "message", "param"}
        status, body = await _get(
            f"{emulator.root_url}/openai/models?api-version={API_VERSION}", {"api-key": KEY}
        )
        assert body["error"]["code"] in ("internalFailure", "serviceUnavailable")
        fault = await arm.call("GET", deployment_url(emulator, "d1"))
        assert fault.status in (500, 502, 503)
        assert set(fault.body["error"]) == {"code", "message"}
        status, _ = await _get(f"{emulator.root_url}/_emulator/state", {})
        assert status == 200  # admin routes never fail on purpose
    async with azure_emulator(rpm_limit=1) as emulator:
        first, _ = await _get(f"{emulator.base_url}/models", {"api-key": KEY})
        status, body = await _get(
            f"{emulator.root_url}/openai/models?api-version={API_VERSION}", {"api-key": KEY}
        )
        assert (first, status) == (200, 429)
        assert body["error"]["code"] == "tooManyRequests"
