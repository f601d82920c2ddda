"""The provider profile (OpenAI, Azure OpenAI, a compatible URL) and where its key comes from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from ftd.config.rules import (
    DEFAULT_CREDENTIAL,
    AbsolutePath,
    CredentialName,
    EnvName,
    Kind,
    Url,
    _KeyedError,
    _Section,
)
from ftd.errors import ConfigError
from ftd.places import first_dir as _first_dir

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path


# ----------------------------------------------------------------------------- [provider]

# Plain http is allowed for these hosts only (a local emulator or proxy).
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

ProfileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class OpenAIProfile(_Section):
    base_url: Url | None = None
    organization: str | None = Field(default=None, min_length=1)
    project: str | None = Field(default=None, min_length=1)


TrainingType = Literal["globalStandard", "standard", "developerTier"]
AzureAuth = Literal["key", "entra", "token"]
DeploymentName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
ArmName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._()-]{1,90}$")]


class AzureProfile(_Section):
    endpoint: Url | None = None
    api_version: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}(-preview)?$")
    use_v1_path: bool = False
    # key: the api-key header; entra: azure-identity's credential chain (managed identity,
    # workload identity, environment service principal, az login); token: a bearer token
    # read like a key (environment, file, credential), for tokens fetched by other means.
    auth: AzureAuth = "key"
    # Azure's training tier, sent as ``trainingType`` with each job (a sidecar may choose).
    training_type: TrainingType | None = None
    # model name (base or fine-tuned) -> the deployment serving it; Azure calls take the
    # deployment name where OpenAI takes the model name.
    deployments: dict[Annotated[str, StringConstraints(min_length=1)], DeploymentName] = Field(
        default_factory=dict
    )
    # Azure Resource Manager: where ftd deploys fine-tuned models for their evaluation.
    subscription_id: ArmName | None = None
    resource_group: ArmName | None = None
    account: ArmName | None = None
    management_url: Url = "https://management.azure.com"
    # How ARM calls sign in: "entra" (azure-identity's credential chain, scope
    # management.azure.com) or "token" (a bearer token read at each call from the
    # environment variable management_token_env, else the systemd credential
    # management_token_credential).
    management_auth: Literal["entra", "token"] = "entra"
    management_token_env: EnvName = "AZURE_MANAGEMENT_TOKEN"  # noqa: S105 - a name, not a secret
    management_token_credential: CredentialName = "azure-management-token"  # noqa: S105
    management_api_version: str = Field(default="2024-10-01", pattern=r"^\d{4}-\d{2}-\d{2}")
    deployment_sku: str = Field(default="Standard", min_length=1, max_length=64)
    deployment_capacity: int = Field(default=1, ge=1, le=10_000)
    # What one deployment costs an hour while it exists (Standard and Global Standard
    # bill about 1.70 USD an hour for a fine-tuned model's hosting).
    deployment_hourly_usd: float = Field(default=1.70, ge=0, allow_inf_nan=False)
    # Keep the deployments ftd made after their evaluation (they bill by the hour).
    keep_deployments: bool = False
    deployment_ready_timeout_seconds: float = Field(default=3600.0, gt=0, allow_inf_nan=False)

    @field_validator("endpoint")
    @classmethod
    def _bare_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
            raise ValueError("must be an https:// URL such as https://NAME.openai.azure.com")
        if parts.path.strip("/"):
            raise ValueError(
                "must be the resource URL without a path; set use_v1_path = true for /openai/v1/"
            )
        return value.rstrip("/")

    @field_validator("management_url")
    @classmethod
    def _bare_management(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
            raise ValueError("must be an https:// URL such as https://management.azure.com")
        return value.rstrip("/")

    def deployment_for(self, model: str) -> str:
        return self.deployments.get(model, model)

    @property
    def can_deploy(self) -> bool:
        return None not in (self.subscription_id, self.resource_group, self.account)


class CompatibleProfile(_Section):
    base_url: Url | None = None


class TogetherProfile(_Section):
    """Together AI: where its API is, and how a fine-tune is served for its evaluation."""

    base_url: Url = "https://api.together.ai/v1"
    # The hardware of a dedicated endpoint (e.g. 1x_nvidia_h100_80gb_sxm), for fine-tunes
    # that serverless LoRA does not serve; unset, ftd evaluates serverless ones only.
    endpoint_hardware: str | None = Field(default=None, min_length=1, max_length=128)
    # What one endpoint costs an hour while it exists (Together's /hardware answers cents a
    # minute; this is the figure the spend guard counts).
    endpoint_hourly_usd: float = Field(default=3.0, ge=0, allow_inf_nan=False)
    # Keep the endpoints ftd made after their evaluation (they bill while they exist).
    keep_endpoints: bool = False
    endpoint_ready_timeout_seconds: float = Field(default=3600.0, gt=0, allow_inf_nan=False)
    # model -> its tokenizer.json (or a folder holding one), for exact text counts; a model
    # without one is counted with o200k_base and its report says by how much that is off.
    tokenizers: dict[str, AbsolutePath] = Field(default_factory=dict)
    # Where a Weights & Biases key comes from, if runs here report to W&B: an environment
    # variable (named here) or a systemd credential. Never a key in this file.
    wandb_api_key_env: EnvName | None = None
    wandb_credential_name: CredentialName = "wandb_api_key"
    # A dedicated W&B instance; unset, Together's default (wandb.ai).
    wandb_base_url: Url | None = None

    _wandb_key: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _no_wandb_key_here(cls, value: object) -> object:
        if isinstance(value, dict) and "wandb_api_key" in value:
            raise _KeyedError(
                ("wandb_api_key",),
                "a W&B key is never written in the configuration: name an environment "
                "variable (wandb_api_key_env) or give it as the systemd credential "
                "wandb_credential_name (default wandb_api_key)",
            )
        return value

    @property
    def wandb_key(self) -> SecretStr | None:
        return self._wandb_key

    def tokenizer_for(self, model: str) -> str | None:
        from ftd.datasets.open_weight import tokenizer_file

        path = self.tokenizers.get(model)
        return None if path is None else str(tokenizer_file(path))


class ProviderSettings(_Section):
    kind: Kind = "openai"
    api_key_env: EnvName | None = None
    api_key_file: AbsolutePath | None = None
    credential_name: CredentialName = DEFAULT_CREDENTIAL
    timeout_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    upload_timeout_seconds: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    # One call's whole budget, retries and waits included; None: 2 x timeout_seconds + 30.
    call_deadline_seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_retries: int = Field(default=3, ge=0, le=20)
    # A split over this goes through the Uploads API in parts (OpenAI's Files API takes 512 MB).
    files_api_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    upload_part_bytes: int = Field(default=64 * 1024 * 1024, ge=1, le=64 * 1024 * 1024)
    max_concurrent_requests: int = Field(default=8, ge=1, le=256)
    requests_per_minute: int | None = Field(default=None, ge=1)
    openai: OpenAIProfile = Field(default_factory=OpenAIProfile)
    azure: AzureProfile = Field(default_factory=AzureProfile)
    compatible: CompatibleProfile = Field(default_factory=CompatibleProfile)
    together: TogetherProfile = Field(default_factory=TogetherProfile)

    _api_key: SecretStr | None = PrivateAttr(default=None)
    _api_key_source: str | None = PrivateAttr(default=None)
    _api_key_search: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _profile_complete(self) -> Self:
        if self.kind == "azure":
            if self.azure.endpoint is None:
                raise _KeyedError(
                    ("azure", "endpoint"),
                    'required when provider.kind = "azure" (e.g. https://NAME.openai.azure.com)',
                )
            if (self.azure.api_version is None) == (not self.azure.use_v1_path):
                raise _KeyedError(
                    ("azure", "api_version"),
                    'provider.kind = "azure" needs exactly one of api_version (e.g. '
                    '"2025-04-01-preview") or use_v1_path = true',
                )
        if self.kind == "compatible" and self.compatible.base_url is None:
            raise _KeyedError(
                ("compatible", "base_url"),
                'required when provider.kind = "compatible" (e.g. http://127.0.0.1:8080/v1)',
            )
        return self

    @property
    def key_env_name(self) -> str:
        if self.api_key_env is not None:
            return self.api_key_env
        if self.kind == "together":
            return "TOGETHER_API_KEY"
        return "AZURE_OPENAI_API_KEY" if self.kind == "azure" else "OPENAI_API_KEY"

    @property
    def base_url(self) -> str | None:
        """The URL an OpenAI client should use; None means the SDK's default (or AzureOpenAI)."""
        if self.kind == "openai":
            return self.openai.base_url
        if self.kind == "compatible":
            return self.compatible.base_url
        if self.kind == "together":
            return self.together.base_url
        if self.azure.use_v1_path and self.azure.endpoint is not None:
            return f"{self.azure.endpoint}/openai/v1/"
        return None

    @property
    def api_key(self) -> SecretStr | None:
        return self._api_key

    @property
    def api_key_source(self) -> str | None:
        return self._api_key_source

    def require_api_key(self) -> SecretStr:
        if self._api_key is not None:
            return self._api_key
        searched = (
            "; ".join(self._api_key_search) or "the key was never looked up (use load_settings)"
        )
        raise ConfigError("provider.api_key", f"no API key found. Looked at: {searched}")


def _read_key(value: str, where: str) -> tuple[SecretStr | None, str]:
    key = value.strip()
    if not key:
        return None, f"{where} (empty)"
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        return None, f"{where} (holds whitespace or non-ASCII characters; expected one key)"
    return SecretStr(key), where


def _read_key_file(path: Path, where: str) -> tuple[SecretStr | None, str, bool]:
    """(key, description, found): found means the search stops here, key or not."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(4097)
    except FileNotFoundError:
        return None, f"{where} (no such file)", False
    except OSError as exc:
        return None, f"{where} (unreadable: {exc.strerror or exc.__class__.__name__})", True
    if len(raw) > 4096:
        return None, f"{where} (larger than 4 KiB; not an API key)", True
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{where} (not UTF-8 text)", True
    key, description = _read_key(text, where)
    return key, description, bool(text.strip())


def _key_candidates(
    provider: ProviderSettings, env: Mapping[str, str]
) -> Iterator[tuple[SecretStr | None, str, bool]]:
    """(key, description, decisive) per place; a decisive place ends the search, key or not."""
    name = provider.key_env_name
    where = f"environment variable {name}"
    if name in env:
        key, description = _read_key(env[name], where)
        yield key, description, bool(env[name].strip())
    else:
        yield None, f"{where} (not set)", False
    if provider.api_key_file is not None:
        yield _read_key_file(
            provider.api_key_file, f"file {provider.api_key_file} (provider.api_key_file)"
        )
    credential = f"systemd credential {provider.credential_name}"
    directory = _first_dir(env, "CREDENTIALS_DIRECTORY")
    if directory is None:
        yield None, f"{credential} (CREDENTIALS_DIRECTORY not set)", False
    else:
        yield _read_key_file(directory / provider.credential_name, f"{credential} in {directory}")


def _resolve_wandb_key(together: TogetherProfile, env: Mapping[str, str]) -> None:
    """The W&B key of a Together profile: its environment variable, else its credential.

    Looked for only when the profile names a variable or a credentials directory is
    given (systemd); nothing found means the runs report to no W&B project.
    """
    name = together.wandb_api_key_env
    if name is not None and env.get(name, "").strip():
        together._wandb_key, _ = _read_key(env[name], f"environment variable {name}")
        return
    directory = _first_dir(env, "CREDENTIALS_DIRECTORY")
    if directory is not None:
        key, _, _ = _read_key_file(directory / together.wandb_credential_name, "credential")
        together._wandb_key = key


def _resolve_api_key(provider: ProviderSettings, env: Mapping[str, str]) -> None:
    """Env var, then key file, then systemd credential: the first place holding a value decides.

    A malformed key where one is expected stops the search, so that a broken
    setting is reported instead of silently replaced by a key from elsewhere.
    """
    searched: list[str] = []
    for key, description, decisive in _key_candidates(provider, env):
        searched.append(description)
        if key is not None:
            provider._api_key = key
            provider._api_key_source = description
            provider._api_key_search = ()
            return
        if decisive:
            break
    provider._api_key_search = tuple(searched)
