"""[[notify]] and [webhooks]: a destination is complete, named once, and holds no secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftd.config import load_settings
from ftd.errors import ConfigError

HOOK = 'name = "h"\nkind = "webhook"\nurl = "https://hooks.example.com/x"\nsecret_env = "S"\n'


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path, env={"HOME": str(tmp_path)})


@pytest.mark.parametrize(
    ("entry", "key", "said"),
    [
        (HOOK + 'secret = "abc"', "notify.0.secret", "secrets are not accepted"),
        (HOOK.replace("https://hooks.example.com", "http://hooks.example.com"), "notify.0.url",
         "https://"),
        ('name = "h"\nkind = "webhook"\nsecret_env = "S"', "notify.0.url", "required"),
        ('name = "h"\nkind = "webhook"\nurl = "https://h.example.com/x"', "notify.0.secret_env",
         "signed"),
        ('name = "s"\nkind = "slack"\nurl = "https://hooks.slack.com/services/T/B/X"',
         "notify.0.url", "the Slack URL is a secret"),
        ('name = "m"\nkind = "email"\nsmtp_host = "mx.example.com"\nmail_from = "a@b.c"\n'
         'mail_to = ["x@y.z"]\nsmtp_security = "none"', "notify.0.smtp_security", "loopback"),
        (HOOK + 'events = ["job_done"]', "notify.0.events.0", "job_succeeded"),
    ],
)  # fmt: skip
def test_a_bad_destination_names_its_key(tmp_path: Path, entry: str, key: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "[[notify]]\n" + entry + "\n")
    assert caught.value.key == key
    assert said in str(caught.value)
    assert "abc" not in str(caught.value)


def test_two_destinations_may_not_share_a_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"notify\.1\.name: 'h' names two destinations") as caught:
        _load(tmp_path, f"[[notify]]\n{HOOK}\n[[notify]]\n{HOOK}")
    assert f"(in {tmp_path / 'config.toml'})" in str(caught.value)  # where, for an array entry


def test_a_complete_destination_wants_every_event_by_default(tmp_path: Path) -> None:
    settings = _load(tmp_path, f'[[notify]]\n{HOOK}\n[webhooks]\nlisten = "127.0.0.1:8787"\n')
    destination = settings.notify[0]  # type: ignore[attr-defined]
    assert "daemon_blocked" in destination.events
    assert "daemon_unblocked" in destination.events
    assert len(destination.events) == 10
    assert settings.webhooks.listen == "127.0.0.1:8787"  # type: ignore[attr-defined]
