"""[[notify]] destinations and [webhooks]: who is told what, and the provider's webhooks in.

A destination names where messages go (a signed HTTPS webhook, a Slack
incoming webhook, an e-mail address over SMTP) and which events it wants.
Every secret it needs (the signing secret, the Slack URL, the SMTP password)
is read at the moment of use from an environment variable or a systemd
credential the entry names, never from the file itself: a key here that looks
like a secret is refused with where it belongs.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from ftd.config.rules import AbsolutePath, CredentialName, EnvName, Url, _KeyedError, _Section

EventKind = Literal[
    "dataset_rejected",
    "approval_waiting",
    "job_succeeded",
    "job_failed",
    "job_cancelled",
    "evaluation_verdict",
    "deployment_running",
    "model_retiring",
    "daemon_blocked",
    "daemon_unblocked",
]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
DestinationKind = Literal["webhook", "slack", "email"]
DestinationName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Address = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s<>]+@[^@\s<>]+$", max_length=254)
]
_HOST_PORT = r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_SECRET_KEYS = ("secret", "password", "token", "key", "api_key", "slack_url", "webhook_url")


class NotifyDestination(_Section):
    name: DestinationName
    kind: DestinationKind
    # Which events this destination wants; all of them when left out. Wanting
    # daemon_blocked brings daemon_unblocked with it: the end of what was told.
    events: list[EventKind] = Field(default_factory=lambda: list(EVENT_KINDS), min_length=1)
    # webhook: where the JSON goes (https, or http on loopback).
    url: Url | None = None
    # webhook: the signing secret; slack: the incoming-webhook URL; email: the SMTP
    # password (optional). Read from this variable, else this systemd credential.
    secret_env: EnvName | None = None
    secret_credential: CredentialName | None = None
    # email
    smtp_host: str | None = Field(default=None, min_length=1, max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    # starttls: upgrade before anything is said; none: plain text, loopback hosts only.
    smtp_security: Literal["starttls", "none"] = "starttls"
    smtp_username: str | None = Field(default=None, min_length=1, max_length=256)
    mail_from: Address | None = None
    mail_to: list[Address] = Field(default_factory=list, max_length=50)
    # A CA bundle to trust instead of the system's (a private relay's certificate).
    ca_file: AbsolutePath | None = None
    # Bounds of one send and of the retries of one message.
    timeout_seconds: float = Field(default=15.0, gt=0, le=300, allow_inf_nan=False)
    max_attempts: int = Field(default=40, ge=1, le=1000)
    # deployment_running: after this many hours of a deployment ftd made.
    deployment_hours: float = Field(default=24.0, gt=0, le=24 * 365, allow_inf_nan=False)
    # model_retiring: this many days before a model's shutdown date.
    retiring_days: int = Field(default=30, ge=1, le=365)

    @model_validator(mode="before")
    @classmethod
    def _no_secret_here(cls, value: object) -> object:
        if isinstance(value, dict):
            for name in _SECRET_KEYS:
                if name in value:
                    raise _KeyedError(
                        (name,),
                        "secrets are not accepted in the configuration: name an environment "
                        "variable with secret_env or a systemd credential with "
                        "secret_credential (LoadCredential=NAME:/path in the unit)",
                    )
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        secret = self.secret_env is not None or self.secret_credential is not None
        if self.kind == "webhook":
            if self.url is None:
                raise _KeyedError(("url",), 'required when kind = "webhook"')
            parts = urlsplit(self.url)
            if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
                raise _KeyedError(("url",), "must be https:// (plain http on loopback only)")
            if not secret:
                raise _KeyedError(
                    ("secret_env",),
                    "a webhook is signed: name its secret with secret_env or secret_credential",
                )
        elif self.url is not None:
            what = "the Slack URL is a secret" if self.kind == "slack" else "not used by e-mail"
            raise _KeyedError(("url",), f'only for kind = "webhook" ({what})')
        if self.kind == "slack" and not secret:
            raise _KeyedError(
                ("secret_env",),
                "the incoming-webhook URL is a secret: name it with secret_env or "
                "secret_credential",
            )
        if self.kind == "email":
            for key in ("smtp_host", "mail_from"):
                if getattr(self, key) is None:
                    raise _KeyedError((key,), 'required when kind = "email"')
            if not self.mail_to:
                raise _KeyedError(("mail_to",), 'at least one address when kind = "email"')
            if self.smtp_security == "none" and self.smtp_host not in _LOOPBACK:
                raise _KeyedError(
                    ("smtp_security",), '"none" sends in the clear: loopback hosts only'
                )
            if self.smtp_username is not None and not secret:
                raise _KeyedError(
                    ("secret_env",),
                    "smtp_username needs its password from secret_env or secret_credential",
                )
        return self


def _unique_names(value: list[NotifyDestination]) -> list[NotifyDestination]:
    seen: set[str] = set()
    for index, entry in enumerate(value):
        if entry.name in seen:
            raise _KeyedError((str(index), "name"), f"{entry.name!r} names two destinations")
        seen.add(entry.name)
    return value


Destinations = Annotated[
    list[NotifyDestination], AfterValidator(_unique_names), Field(max_length=32)
]


class WebhooksSettings(_Section):
    """The provider's webhooks in: hints that make the tracker look at a job at once."""

    # host:port to listen on, behind the user's reverse proxy; None: no listener.
    listen: str | None = Field(default=None, pattern=_HOST_PORT)
    path: str = Field(default="/openai/webhooks", pattern=r"^/[A-Za-z0-9/_.-]*$")
    secret_env: EnvName = "OPENAI_WEBHOOK_SECRET"  # noqa: S105 - a name, not a secret
    secret_credential: CredentialName = "openai-webhook-secret"  # noqa: S105
    tolerance_seconds: float = Field(default=300.0, gt=0, le=3600, allow_inf_nan=False)
    max_body_bytes: int = Field(default=65_536, ge=1024, le=1 << 20)
