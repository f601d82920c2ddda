"""How a profile serves fine-tuned models for their evaluation, whatever its kind.

The deployer reads these figures rather than a provider's own settings, so
Azure's deployments (``[provider.azure]``) and Together's dedicated endpoints
(``[provider.together]``) go through the same intent rows, waits, probes and
teardowns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ftd.config import ProviderSettings


@dataclass(frozen=True, slots=True)
class Hosting:
    can_deploy: bool
    keep: bool
    hourly_usd: float
    ready_timeout: float
    # Models served under a name of their own that ftd did not make (Azure's table).
    configured: Mapping[str, str] = field(default_factory=dict)
    # Whether the base model (and judge) must be deployed too: Azure's must, Together
    # serves its bases serverless.
    shared: bool = True


def hosting_of(profile: ProviderSettings) -> Hosting:
    if profile.kind == "together":
        together = profile.together
        return Hosting(
            can_deploy=together.endpoint_hardware is not None,
            keep=together.keep_endpoints,
            hourly_usd=together.endpoint_hourly_usd,
            ready_timeout=together.endpoint_ready_timeout_seconds,
            shared=False,
        )
    azure = profile.azure
    return Hosting(
        can_deploy=azure.can_deploy,
        keep=azure.keep_deployments,
        hourly_usd=azure.deployment_hourly_usd,
        ready_timeout=azure.deployment_ready_timeout_seconds,
        configured=azure.deployments,
    )
