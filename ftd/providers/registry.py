"""From a provider profile to its adapter, importing only the SDK that profile needs."""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

import anyio

from ftd import catalog
from ftd.errors import ConfigError, RemoteError
from ftd.places import first_dir
from ftd.profiles import DEFAULT_PROFILE
from ftd.providers.core import CallPolicy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    import openai

    from ftd.config import ProviderSettings, Settings
    from ftd.pace import Pace
    from ftd.providers.core import Provider

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
ARM_SCOPE = "https://management.azure.com/.default"


def policy_for(settings: ProviderSettings) -> CallPolicy:
    return CallPolicy(
        retries=settings.max_retries,
        # Each attempt has the SDK's per-request timeout; the whole call, waits
        # included, must end within this, however slowly a server trickles bytes.
        deadline=settings.call_deadline_seconds or 2 * settings.timeout_seconds + 30.0,
        upload_timeout=settings.upload_timeout_seconds,
        files_api_max_bytes=settings.files_api_max_bytes,
        upload_part_bytes=settings.upload_part_bytes,
    )


# Each kind's adapter and what it imports when built (the SDKs dominate a start).
_ADAPTER_MODULES = {
    "azure": ("ftd.providers.azure", "httpx2", "openai", "ftd.providers.bodies"),
    "together": ("ftd.providers.together",),
}
_OPENAI_MODULES = ("ftd.providers.openai_api", "httpx2", "openai", "ftd.providers.bodies")


def load_adapters(settings: Settings) -> None:
    """Import the adapters and SDKs the configured profiles need, and nothing else.

    Importing the OpenAI SDK takes most of a daemon's start; the daemon does
    it in a worker thread (``open_provider`` would otherwise do it on the
    event loop) while its control socket already answers.
    """
    kinds = {profile.kind for profile in settings.profiles.values()}
    for kind in sorted(kinds):
        for module in _ADAPTER_MODULES.get(kind, _OPENAI_MODULES):
            importlib.import_module(module)


def open_provider(name: str, settings: ProviderSettings, pace: Pace | None = None) -> Provider:
    """The adapter for one profile; its SDK's own retries are always off."""
    options: dict[str, Any] = {"policy": policy_for(settings), "pace": pace}
    if settings.kind == "azure":
        from ftd.providers.azure import AzureProvider

        token = _entra_tokens(settings) if settings.azure.auth == "entra" else None
        if settings.azure.auth == "token":
            secret = settings.require_api_key().get_secret_value()

            async def static() -> str:
                return secret

            token = static
        client = _azure_client(settings, pace, token)
        arm_token = (
            _entra_tokens(settings, ARM_SCOPE)
            if settings.azure.management_auth == "entra"
            else _management_token(settings)
        )
        return AzureProvider(name, client, settings.azure, management_token=arm_token, **options)
    if settings.kind == "together":
        from ftd.providers.together import TogetherProvider

        return TogetherProvider(
            name,
            api_key=settings.require_api_key().get_secret_value(),
            base_url=settings.together.base_url,
            timeout=settings.timeout_seconds,
            hardware=settings.together.endpoint_hardware,
            wandb_key=settings.together.wandb_key,
            wandb_base_url=settings.together.wandb_base_url,
            **options,
        )
    from ftd.providers.openai_api import OpenAIProvider

    announced = catalog.shutdown_dates() if settings.kind == "openai" else None
    return OpenAIProvider(name, _openai_client(settings, pace), announced=announced, **options)


def _observer(pace: Pace | None) -> Any:
    """The SDK's HTTP client: every answer's body bounded (see ``bodies``), and its
    rate-limit headers shown to the pace."""
    import httpx2
    import openai

    from ftd.providers.bodies import BoundedTransport

    async def observe(response: Any) -> None:
        if pace is not None:
            pace.observe(response.headers)

    transport = BoundedTransport(httpx2.AsyncHTTPTransport(limits=openai.DEFAULT_CONNECTION_LIMITS))
    return openai.DefaultAsyncHttpxClient(transport=transport, event_hooks={"response": [observe]})


def _openai_client(settings: ProviderSettings, pace: Pace | None) -> openai.AsyncOpenAI:
    import openai

    key = settings.require_api_key().get_secret_value()
    openai_profile = settings.kind == "openai"
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=settings.base_url,
        organization=settings.openai.organization if openai_profile else None,
        project=settings.openai.project if openai_profile else None,
        timeout=settings.timeout_seconds,
        max_retries=0,
        http_client=_observer(pace),
    )


def _azure_client(
    settings: ProviderSettings,
    pace: Pace | None,
    token: Callable[[], Awaitable[str]] | None,
) -> openai.AsyncOpenAI:
    import openai

    azure = settings.azure
    assert azure.endpoint is not None
    headers: dict[str, str] = {}
    if token is None:
        key = settings.require_api_key().get_secret_value()
        headers["api-key"] = key
    if not azure.use_v1_path:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=azure.endpoint,
            api_version=azure.api_version,
            api_key=headers.get("api-key"),
            azure_ad_token_provider=token,
            timeout=settings.timeout_seconds,
            max_retries=0,
            http_client=_observer(pace),
        )
    return openai.AsyncOpenAI(
        # v1: the key goes in the api-key header; a token as the bearer.
        api_key=token if token is not None else headers["api-key"],
        base_url=f"{azure.endpoint}/openai/v1/",
        default_headers=headers,
        timeout=settings.timeout_seconds,
        max_retries=0,
        http_client=_observer(pace),
    )


def _entra_tokens(
    settings: ProviderSettings, scope: str = AZURE_SCOPE
) -> Callable[[], Awaitable[str]]:
    """Bearer tokens from azure-identity's credential chain, refreshed before they expire."""
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError:
        raise ConfigError(
            "provider.azure.auth",
            'auth = "entra" needs the azure-identity package: pip install "ftd[azure]"',
        ) from None
    credential = DefaultAzureCredential()

    async def token() -> str:
        granted = await credential.get_token(scope)
        return str(granted.token)

    return token


def _management_token(settings: ProviderSettings) -> Callable[[], Awaitable[str]]:
    """A bearer token for ARM from the environment or a systemd credential, read each call."""
    azure = settings.azure

    async def token() -> str:
        value = os.environ.get(azure.management_token_env, "").strip()
        directory = first_dir(os.environ, "CREDENTIALS_DIRECTORY")
        if not value and directory is not None:
            try:
                path = anyio.Path(directory / azure.management_token_credential)
                value = (await path.read_text()).strip()
            except OSError:
                value = ""
        if not value:
            raise RemoteError(
                "arm",
                f"no ARM token: set {azure.management_token_env} or the systemd credential "
                f"{azure.management_token_credential}",
                kind="auth",
            )
        return value

    return token


class Providers:
    """Every configured profile's adapter, opened on first use and closed together."""

    def __init__(self, settings: Settings, pace_for: Callable[[str], Pace | None]) -> None:
        self._settings = settings
        self._pace_for = pace_for
        self._open: dict[str, Provider] = {}

    def get(self, name: str | None) -> Provider:
        profile = name or DEFAULT_PROFILE
        if profile not in self._open:
            self._open[profile] = open_provider(
                profile, self._settings.profile(profile), self._pace_for(profile)
            )
        return self._open[profile]

    @property
    def default(self) -> Provider:
        return self.get(DEFAULT_PROFILE)

    def names(self) -> list[str]:
        return list(self._settings.profiles)

    def __iter__(self) -> Iterator[Provider]:
        return iter([self.get(name) for name in self.names()])

    def opened(self) -> list[Provider]:
        """The adapters opened so far (the ones that can have had trouble)."""
        return list(self._open.values())

    def add(self, provider: Provider) -> None:
        """Use an adapter built elsewhere (tests, the evaluation's own client)."""
        self._open[provider.profile] = provider

    async def close(self) -> None:
        for provider in self._open.values():
            await provider.close()
        self._open.clear()
