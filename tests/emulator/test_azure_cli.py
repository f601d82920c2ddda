"""``ftd emulator --flavor azure`` as a process: it starts, answers both planes, and stops."""

from __future__ import annotations

from typing import Any

import pytest

from ftd import cli
from ftd.emulator.process import EmulatorProcess
from tests.emulator.azure_support import KEY, Arm, arm_client, deployment_body


async def _open(arm: Arm, url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """A call without ARM's bearer token but with a data-plane key."""
    async with arm.session.request(method, url, json=body, headers={"api-key": KEY}) as response:
        return response.status, await response.json(content_type=None)


@pytest.mark.anyio
@pytest.mark.timeout(90)
async def test_the_azure_flavour_starts_as_a_process() -> None:
    emulator = EmulatorProcess(
        "--flavor",
        "azure",
        "--port",
        "0",
        "--speed",
        "50",
        "--deployment-provisioning-seconds",
        "0",
        "--deployment-not-ready-seconds",
        "0",
    )
    async with emulator, arm_client() as arm:
        assert emulator.base_url.endswith("/openai/v1")
        root = emulator.root_url
        assert root.count("/") == 2  # http://host:port
        status, models = await _open(arm, f"{emulator.base_url}/models")
        assert status == 200
        assert models["data"]
        assert (await arm.call("GET", f"{emulator.base_url}/models", token=None)).status == 401
        url = (
            f"{root}/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices"
            "/accounts/a/deployments/base?api-version=2024-10-01"
        )
        put = await arm.call("PUT", url, deployment_body("gpt-4.1-mini"))
        assert put.status == 201, put.body
        config = await arm.call("GET", f"{root}/_emulator/config", token=None)
        assert config.body["deployment_provisioning_seconds"] == 0
        status, chat = await _open(
            arm,
            f"{emulator.base_url}/chat/completions",
            "POST",
            {"model": "base", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert status == 200, chat
        admin = await arm.call("GET", f"{root}/_emulator/deployments", token=None)
        assert admin.body["puts"] == 1
    assert emulator.returncode == 0


def test_the_command_line_takes_a_flavour() -> None:
    if "emulator" not in cli.COMMANDS:
        pytest.skip("ftd.cli does not register the emulator subcommand yet")
    parser = cli.build_parser()
    args = parser.parse_args(
        ["emulator", "--flavor", "azure", "--port", "0", "--developer-tier-pause-seconds", "30"]
    )
    assert (args.flavor, args.developer_tier_pause_seconds) == ("azure", 30.0)
    assert parser.parse_args(["emulator"]).flavor == "openai"
    with pytest.raises(SystemExit):
        parser.parse_args(["emulator", "--flavor", "bedrock"])
