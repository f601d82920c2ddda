"""A destination's secret, read when it is used: never stored, logged or answered.

The environment variable named by ``secret_env`` first, then the systemd
credential named by ``secret_credential`` in ``$CREDENTIALS_DIRECTORY``; the
first place holding a value decides. Reading at each use lets a rotated
credential take effect without a restart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ftd.errors import FtdError

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_SECRET_BYTES = 4096


class SecretMissing(FtdError):
    """No place named for a secret holds one; the message lists where ftd looked."""


def read_secret(
    env_name: str | None, credential: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """The secret, stripped of surrounding whitespace; SecretMissing says where ftd looked."""
    env = os.environ if environ is None else environ
    looked: list[str] = []
    if env_name is not None:
        value = env.get(env_name, "").strip()
        if value:
            return value
        looked.append(
            f"environment variable {env_name} ({'empty' if env_name in env else 'not set'})"
        )
    if credential is not None:
        directory = env.get("CREDENTIALS_DIRECTORY", "").split(":")[0]
        if not directory:
            looked.append(f"systemd credential {credential} (CREDENTIALS_DIRECTORY not set)")
        else:
            path = Path(directory) / credential
            try:
                with path.open("rb") as handle:
                    raw = handle.read(MAX_SECRET_BYTES + 1)
            except OSError as exc:
                looked.append(f"systemd credential {credential} ({exc.strerror or 'unreadable'})")
            else:
                text = raw[:MAX_SECRET_BYTES].decode("utf-8", errors="replace").strip()
                if text and len(raw) <= MAX_SECRET_BYTES:
                    return text
                looked.append(f"systemd credential {credential} (empty or over 4 KiB)")
    raise SecretMissing("no secret found; looked at " + "; ".join(looked or ["nothing named"]))


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret (and a URL's path after its host, for Slack's) blanked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return text
