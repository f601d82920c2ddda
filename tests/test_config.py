"""Settings: sources and their precedence, every rule's error, secrets, sidecars, prices."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ftd import catalog
from ftd.config import (
    DatasetOverrides,
    Price,
    RunDefaults,
    Settings,
    default_paths,
    load_overrides,
    load_settings,
)
from ftd.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"
SECRET = "sk-test-5ecr3t-DO-NOT-LEAK-0123456789"
_CLEARED = ("FTD_", "OPENAI_", "AZURE_")
_CLEARED_NAMES = (
    "CREDENTIALS_DIRECTORY",
    "STATE_DIRECTORY",
    "RUNTIME_DIRECTORY",
    "CONFIGURATION_DIRECTORY",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(_CLEARED) or name in _CLEARED_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # The suite may run as root; the default paths must not depend on it.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home")}


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict[str, str]) -> Settings:
    return load_settings(write(tmp_path, text), env)


def fails(tmp_path: Path, text: str, env: dict[str, str]) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env)
    return caught.value


# ----------------------------------------------------------------------------- defaults


def test_no_file_gives_documented_defaults(tmp_path: Path, env: dict[str, str]) -> None:
    settings = load_settings(None, env)
    state = tmp_path / "home" / ".local" / "state" / "ftd"
    assert settings.paths.state_dir == state
    assert settings.paths.drop_dir == state / "drop"
    assert settings.paths.runtime_dir == state / "run"
    assert settings.paths.drop.incoming == state / "drop" / "incoming"
    assert (settings.intake.stable_seconds, settings.intake.rescan_seconds) == (5.0, 60.0)
    assert settings.intake.force_polling is False
    provider = settings.provider
    assert provider.kind == "openai"
    assert provider.base_url is None
    assert provider.key_env_name == "OPENAI_API_KEY"
    assert (provider.timeout_seconds, provider.upload_timeout_seconds) == (60.0, 600.0)
    assert provider.max_retries == 3
    defaults = settings.defaults
    assert defaults.model == catalog.DEFAULT_MODEL
    assert defaults.method == "supervised"
    assert defaults.hyperparameters.model_dump() == dict.fromkeys(
        ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"), "auto"
    )
    assert (defaults.suffix, defaults.seed, defaults.metadata) == (None, None, {})
    assert (defaults.validation_fraction, defaults.test_fraction) == (0.1, 0.1)
    assert (defaults.max_cost_usd, defaults.auto_approve) == (50.0, True)
    assert (settings.log.level, settings.log.format) == ("info", "auto")
    assert settings.prices == {}


def test_default_paths_as_root() -> None:
    paths = default_paths({"HOME": "/root"}, root=True)
    assert paths == {"state_dir": Path("/var/lib/ftd"), "runtime_dir": Path("/run/ftd")}


def test_default_paths_follow_xdg_for_users() -> None:
    env = {"HOME": "/home/u", "XDG_STATE_HOME": "/xdg/state", "XDG_RUNTIME_DIR": "/run/user/7"}
    paths = default_paths(env, root=False)
    assert paths == {"state_dir": Path("/xdg/state/ftd"), "runtime_dir": Path("/run/user/7/ftd")}


def test_relative_xdg_values_are_ignored_as_the_spec_says() -> None:
    paths = default_paths({"HOME": "/home/u", "XDG_STATE_HOME": "rel"}, root=False)
    assert paths["state_dir"] == Path("/home/u/.local/state/ftd")


@pytest.mark.parametrize("root", [True, False])
def test_systemd_directories_win_over_other_defaults(root: bool) -> None:
    env = {
        "HOME": "/home/u",
        "XDG_STATE_HOME": "/xdg",
        "STATE_DIRECTORY": "/var/lib/ftd-unit:/var/lib/other",
        "RUNTIME_DIRECTORY": "/run/ftd-unit",
    }
    paths = default_paths(env, root=root)
    assert paths == {"state_dir": Path("/var/lib/ftd-unit"), "runtime_dir": Path("/run/ftd-unit")}


def test_systemd_directories_honoured_by_load_settings(tmp_path: Path, env: dict[str, str]) -> None:
    confdir = tmp_path / "etc"
    confdir.mkdir()
    write(confdir, "[defaults]\nseed = 7\n")
    env |= {
        "STATE_DIRECTORY": str(tmp_path / "state"),
        "RUNTIME_DIRECTORY": str(tmp_path / "run"),
        "CONFIGURATION_DIRECTORY": str(confdir),
    }
    settings = load_settings(None, env)
    assert settings.paths.state_dir == tmp_path / "state"
    assert settings.paths.drop_dir == tmp_path / "state" / "drop"
    assert settings.paths.runtime_dir == tmp_path / "run"
    assert settings.defaults.seed == 7


def test_configuration_directory_without_file_means_defaults(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env["CONFIGURATION_DIRECTORY"] = str(tmp_path)
    assert load_settings(None, env).defaults.seed is None


# ----------------------------------------------------------------------------- sources


def test_toml_values_are_read(tmp_path: Path, env: dict[str, str]) -> None:
    settings = load(
        tmp_path,
        f"""
        [paths]
        state_dir = "{tmp_path}/s"
        drop_dir = "{tmp_path}/drop"
        [intake]
        stable_seconds = 0.5
        force_polling = true
        [provider]
        timeout_seconds = 5
        [defaults]
        model = "gpt-4.1-nano-2025-04-14"
        method = "dpo"
        suffix = "faq-v2"
        seed = 42
        metadata = {{ team = "support" }}
        hyperparameters = {{ n_epochs = 4, beta = 0.2, learning_rate_multiplier = "auto" }}
        [log]
        level = "DEBUG"
        format = "json"
        """,
        env,
    )
    assert settings.paths.state_dir == tmp_path / "s"
    assert settings.paths.drop_dir == tmp_path / "drop"
    assert settings.intake.stable_seconds == 0.5
    assert settings.intake.force_polling is True
    assert settings.provider.timeout_seconds == 5.0
    defaults = settings.defaults
    assert (defaults.model, defaults.method, defaults.suffix, defaults.seed) == (
        "gpt-4.1-nano-2025-04-14",
        "dpo",
        "faq-v2",
        42,
    )
    assert defaults.metadata == {"team": "support"}
    assert defaults.hyperparameters.n_epochs == 4
    assert defaults.hyperparameters.beta == 0.2
    assert settings.log.level == "debug"


def test_env_overrides_toml_key_by_key(tmp_path: Path, env: dict[str, str]) -> None:
    env |= {
        "FTD_DEFAULTS__MODEL": "gpt-4o-mini-2024-07-18",
        "FTD_DEFAULTS__HYPERPARAMETERS__N_EPOCHS": "3",
        "FTD_PROVIDER__KIND": "compatible",
        "FTD_PROVIDER__COMPATIBLE__BASE_URL": "http://127.0.0.1:8080/v1",
        "FTD_INTAKE__FORCE_POLLING": "true",
    }
    text = """
    [defaults]
    model = "gpt-4.1-nano-2025-04-14"
    test_fraction = 0.2
    hyperparameters.batch_size = 8
    """
    settings = load(tmp_path, text, env)
    assert settings.defaults.model == "gpt-4o-mini-2024-07-18"
    assert settings.defaults.test_fraction == 0.2  # the rest of the table survives
    assert settings.defaults.hyperparameters.n_epochs == 3
    assert settings.defaults.hyperparameters.batch_size == 8
    assert settings.provider.kind == "compatible"
    assert settings.provider.base_url == "http://127.0.0.1:8080/v1"
    assert settings.intake.force_polling is True


def test_env_null_clears_an_optional_toml_value(tmp_path: Path, env: dict[str, str]) -> None:
    env["FTD_DEFAULTS__SEED"] = "null"
    assert load(tmp_path, "[defaults]\nseed = 5\n", env).defaults.seed is None


def test_whole_section_as_json(tmp_path: Path, env: dict[str, str]) -> None:
    env["FTD_PRICES"] = '{"gpt-4o-2024-08-06": {"training_per_mtok": 20}}'
    settings = load_settings(None, env)
    assert settings.price_for("gpt-4o-2024-08-06").training_per_mtok == 20.0


def test_section_variable_that_is_not_json_is_refused(env: dict[str, str]) -> None:
    env["FTD_LOG"] = "debug"
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    assert caught.value.key == "log"
    assert "FTD_LOG__KEY" in str(caught.value)


def test_overrides_argument_beats_env_and_toml(tmp_path: Path, env: dict[str, str]) -> None:
    env["FTD_DEFAULTS__SEED"] = "2"
    path = write(tmp_path, "[defaults]\nseed = 1\n")
    settings = load_settings(path, env, overrides={"defaults": {"seed": 3}})
    assert settings.defaults.seed == 3


def test_ftd_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[defaults]\nseed = 11\n")
    monkeypatch.setenv("FTD_CONFIG", str(path))
    assert load_settings().defaults.seed == 11


def test_explicit_path_beats_ftd_config(tmp_path: Path, env: dict[str, str]) -> None:
    env["FTD_CONFIG"] = str(write(tmp_path, "[defaults]\nseed = 1\n", "env.toml"))
    path = write(tmp_path, "[defaults]\nseed = 2\n", "arg.toml")
    assert load_settings(path, env).defaults.seed == 2


def test_missing_file_names_the_path(tmp_path: Path, env: dict[str, str]) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, env)
    assert caught.value.key == str(missing)
    assert "no such file" in str(caught.value)


def test_missing_file_from_ftd_config_names_the_path(tmp_path: Path, env: dict[str, str]) -> None:
    env["FTD_CONFIG"] = str(tmp_path / "gone.toml")
    with pytest.raises(ConfigError, match=r"gone\.toml"):
        load_settings(None, env)


def test_directory_instead_of_file(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, env)


def test_toml_syntax_error_names_path_line_and_column(tmp_path: Path, env: dict[str, str]) -> None:
    error = fails(tmp_path, '[defaults]\nmodel = "gpt-4o"\nseed = = 3\n', env)
    assert error.key == str(tmp_path / "config.toml")
    assert "line 3" in str(error)
    assert "column" in str(error)


def test_non_utf8_file_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[defaults]\nsuffix = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings(path, env)


# ----------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[defaults]\nmodle = 'x'\n", "defaults.modle"),
        ("[socket]\npath = '/run/x'\n", "socket"),
        ("[defaults.hyperparameters]\nepochs = 3\n", "defaults.hyperparameters.epochs"),
        ("[provider.azure]\nendpont = 'https://x.openai.azure.com'\n", "provider.azure.endpont"),
        ('[prices."gpt-4.1"]\ntraining = 1.0\n', 'prices."gpt-4.1".training'),
        ("[log]\nlevels = 'debug'\n", "log.levels"),
    ],
)
def test_unknown_toml_key_is_named(
    tmp_path: Path, env: dict[str, str], text: str, key: str
) -> None:
    error = fails(tmp_path, text, env)
    assert error.key == key
    assert "unknown key" in str(error)
    assert str(tmp_path / "config.toml") in str(error)


def test_unknown_key_lists_allowed_keys(tmp_path: Path, env: dict[str, str]) -> None:
    error = fails(tmp_path, "[intake]\nstable = 1\n", env)
    assert "stable_seconds" in str(error)
    assert "rescan_seconds" in str(error)


def test_unknown_env_key_names_the_variable(env: dict[str, str]) -> None:
    env["FTD_DEFAULTS__MODLE"] = "x"
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    assert caught.value.key == "defaults.modle"
    assert "FTD_DEFAULTS__MODLE" in str(caught.value)


def test_unknown_env_section_is_refused(env: dict[str, str]) -> None:
    env["FTD_DEFUALTS__MODEL"] = "x"
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    assert caught.value.key == "defualts"
    assert "FTD_DEFUALTS__MODEL" in str(caught.value)


def test_other_ftd_variables_are_left_alone(env: dict[str, str]) -> None:
    env["FTD_SOMETHING_ELSE"] = "x"
    assert load_settings(None, env).defaults.model == catalog.DEFAULT_MODEL


def test_env_value_error_names_variable_and_key(env: dict[str, str]) -> None:
    env["FTD_DEFAULTS__TEST_FRACTION"] = "0.9"
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    assert caught.value.key == "defaults.test_fraction"
    assert "environment variable FTD_DEFAULTS__TEST_FRACTION" in str(caught.value)


_BAD_VALUES = [
    ("defaults.hyperparameters", "n_epochs = 0", "defaults.hyperparameters.n_epochs"),
    ("defaults.hyperparameters", "n_epochs = 51", "defaults.hyperparameters.n_epochs"),
    ("defaults.hyperparameters", "n_epochs = 2.5", "defaults.hyperparameters.n_epochs"),
    ("defaults.hyperparameters", "n_epochs = inf", "defaults.hyperparameters.n_epochs"),
    ("defaults.hyperparameters", "batch_size = nan", "defaults.hyperparameters.batch_size"),
    ("defaults.hyperparameters", "n_epochs = 'many'", "defaults.hyperparameters.n_epochs"),
    ("defaults.hyperparameters", "n_epochs = true", "defaults.hyperparameters.n_epochs"),
    ("defaults.hyperparameters", "batch_size = 0", "defaults.hyperparameters.batch_size"),
    ("defaults.hyperparameters", "batch_size = 257", "defaults.hyperparameters.batch_size"),
    (
        "defaults.hyperparameters",
        "learning_rate_multiplier = 0",
        "defaults.hyperparameters.learning_rate_multiplier",
    ),
    (
        "defaults.hyperparameters",
        "learning_rate_multiplier = nan",
        "defaults.hyperparameters.learning_rate_multiplier",
    ),
    ("defaults.hyperparameters", "beta = 0.5", "defaults.hyperparameters.beta"),  # not dpo
    ("defaults", "method = 'dpo'\nhyperparameters.beta = 0", "defaults.hyperparameters.beta"),
    ("defaults", "method = 'dpo'\nhyperparameters.beta = 2.01", "defaults.hyperparameters.beta"),
    ("defaults", "method = 'rlhf'", "defaults.method"),
    ("defaults", "method = 'reinforcement'", "defaults.method"),  # gpt-4.1-mini cannot
    ("defaults", "model = ''", "defaults.model"),
    ("defaults", "model = 'gpt 4'", "defaults.model"),
    ("defaults", "suffix = ''", "defaults.suffix"),
    ("defaults", f"suffix = '{'x' * 65}'", "defaults.suffix"),
    ("defaults", "suffix = 'a:b'", "defaults.suffix"),
    ("defaults", "seed = -1", "defaults.seed"),
    ("defaults", "seed = 2147483648", "defaults.seed"),
    ("defaults", "metadata = { ftd_hash = 'x' }", "defaults.metadata"),
    ("defaults", f"metadata = {{ {'k' * 65} = 'x' }}", f"defaults.metadata.{'k' * 65}"),
    ("defaults", f"metadata = {{ k = '{'v' * 513}' }}", "defaults.metadata.k"),
    ("defaults", "metadata = { k = 1 }", "defaults.metadata.k"),
    (
        "defaults",
        "metadata = { " + ", ".join(f"k{i} = 'v'" for i in range(15)) + " }",
        "defaults.metadata",
    ),
    ("defaults", "validation_fraction = 0.51", "defaults.validation_fraction"),
    ("defaults", "validation_fraction = -0.1", "defaults.validation_fraction"),
    ("defaults", "test_fraction = 0.6", "defaults.test_fraction"),
    ("defaults", "test_fraction = 0.45\nvalidation_fraction = 0.45", "defaults.test_fraction"),
    ("defaults", "min_test_examples = -1", "defaults.min_test_examples"),
    ("defaults", "max_cost_usd = -0.01", "defaults.max_cost_usd"),
    ("defaults", "max_cost_usd = inf", "defaults.max_cost_usd"),
    ("defaults", "auto_approve = 'sometimes'", "defaults.auto_approve"),
    ("intake", "stable_seconds = -1", "intake.stable_seconds"),
    ("intake", "rescan_seconds = 0", "intake.rescan_seconds"),
    ("intake", "max_file_bytes = 0", "intake.max_file_bytes"),
    ("paths", "state_dir = 'relative/dir'", "paths.state_dir"),
    ("paths", "drop_dir = 'drop'", "paths.drop_dir"),
    ("provider", "kind = 'bedrock'", "provider.kind"),
    ("provider", "timeout_seconds = 0", "provider.timeout_seconds"),
    ("provider", "upload_timeout_seconds = -5", "provider.upload_timeout_seconds"),
    ("provider", "max_retries = -1", "provider.max_retries"),
    ("provider", "max_retries = 21", "provider.max_retries"),
    ("provider", "api_key_env = 'NOT-A-NAME'", "provider.api_key_env"),
    ("provider", "api_key_file = 'key.txt'", "provider.api_key_file"),
    ("provider", "credential_name = '../escape'", "provider.credential_name"),
    ("provider.openai", "base_url = 'ftp://example.com'", "provider.openai.base_url"),
    ("provider.openai", "base_url = 'https://u:p@example.com'", "provider.openai.base_url"),
    ("provider.azure", "endpoint = 'http://x.openai.azure.com'", "provider.azure.endpoint"),
    ("provider.azure", "endpoint = 'https://x.azure.com/openai/v1'", "provider.azure.endpoint"),
    ("provider.azure", "api_version = 'latest'", "provider.azure.api_version"),
    ("provider.azure", "deployments = { m = 'has space' }", "provider.azure.deployments.m"),
    ('prices."gpt-4o"', "training_per_mtok = -1", "prices.gpt-4o.training_per_mtok"),
    ("log", "level = 'verbose'", "log.level"),
    ("log", "format = 'xml'", "log.format"),
]


@pytest.mark.parametrize(("table", "line", "key"), _BAD_VALUES)
def test_each_rule_names_its_key(
    tmp_path: Path, env: dict[str, str], table: str, line: str, key: str
) -> None:
    error = fails(tmp_path, f"[{table}]\n{line}\n", env)
    assert error.key == key
    assert str(error).startswith(f"config {key}: ")
    assert f"in {tmp_path / 'config.toml'}" in str(error)


def test_range_message_says_what_is_allowed(tmp_path: Path, env: dict[str, str]) -> None:
    error = fails(tmp_path, "[defaults.hyperparameters]\nn_epochs = 0\n", env)
    assert '"auto" or an integer from 1 to 50' in str(error)
    assert "got 0" in str(error)


def test_several_errors_are_all_reported(tmp_path: Path, env: dict[str, str]) -> None:
    error = fails(tmp_path, "[defaults]\nseed = -1\n[intake]\nrescan_seconds = 0\n", env)
    assert "defaults.seed" in str(error)
    assert "intake.rescan_seconds" in str(error)


def test_beta_is_accepted_for_dpo(tmp_path: Path, env: dict[str, str]) -> None:
    text = "[defaults]\nmethod = 'dpo'\nhyperparameters.beta = 2\n"
    assert load(tmp_path, text, env).defaults.hyperparameters.beta == 2.0


def test_reinforcement_of_a_model_whose_rft_was_retired_is_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    text = "[defaults]\nmodel = 'o4-mini'\nmethod = 'reinforcement'\n" + RFT_GRADER
    error = fails(tmp_path, text, env)
    assert error.key == "defaults.method"
    assert "retired reinforcement fine-tuning of o4-mini-2025-04-16 on 2026-10-23" in str(error)


def test_an_evaluations_reinforcement_grader_is_not_configurable(
    tmp_path: Path, env: dict[str, str]
) -> None:
    text = RFT_GRADER.replace("defaults.reinforcement.grader", "evaluation.reinforcement.grader")
    error = fails(tmp_path, text, env)
    assert error.key == "evaluation.reinforcement"
    assert "takes the grader of its own [reinforcement] block" in str(error)


def test_azure_still_trains_o4_mini_with_reinforcement(tmp_path: Path, env: dict[str, str]) -> None:
    text = (
        "[defaults]\nmodel = 'o4-mini'\nmethod = 'reinforcement'\n"
        "[provider]\nkind = 'azure'\n[provider.azure]\nendpoint = 'https://x.openai.azure.com'\n"
        "use_v1_path = true\n" + RFT_GRADER
    )
    assert load(tmp_path, text, env).defaults.method == "reinforcement"


RFT_GRADER = """
[defaults.reinforcement.grader]
type = "string_check"
name = "exact"
input = "{{sample.output_text}}"
reference = "{{item.answer}}"
operation = "eq"
"""


def test_a_reinforcement_block_is_kept_and_checked(tmp_path: Path, env: dict[str, str]) -> None:
    text = (
        "[defaults]\nmodel = 'acme-rft-1'\nmethod = 'reinforcement'\n"
        "hyperparameters.n_epochs = 2\n" + RFT_GRADER + "[defaults.reinforcement.hyperparameters]\n"
        "reasoning_effort = 'low'\ncompute_multiplier = 1.5\neval_interval = 3\n"
        "eval_samples = 2\n"
        "[defaults.reinforcement.response_format]\ntype = 'json_schema'\n"
        "json_schema = { name = 'answer', schema = { type = 'object' } }\n"
    )
    run = load(tmp_path, text, env).defaults.merged()
    assert run.reinforcement is not None
    body = run.reinforcement.method_body()
    assert body["grader"] == {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    assert body["hyperparameters"] == {
        "reasoning_effort": "low",
        "compute_multiplier": 1.5,
        "eval_interval": 3,
        "eval_samples": 2,
    }
    assert body["response_format"]["json_schema"]["name"] == "answer"


@pytest.mark.parametrize(
    ("extra", "key", "reason"),
    [
        ("", "defaults.reinforcement.grader", "required for method reinforcement"),
        (
            RFT_GRADER.replace('"eq"', '"equals"'),
            "defaults.reinforcement.grader.string_check.operation",
            "'eq', 'ne', 'like' or 'ilike'",
        ),
        (
            RFT_GRADER.replace("string_check", "label_model"),
            "defaults.reinforcement.grader",
            "label_model",
        ),
        (
            RFT_GRADER + "[defaults.reinforcement.hyperparameters]\ncompute_multiplier = 20\n",
            "defaults.reinforcement.hyperparameters.compute_multiplier",
            "at most 10",
        ),
        (
            RFT_GRADER + "[defaults.reinforcement.hyperparameters]\nreasoning_effort = 'max'\n",
            "defaults.reinforcement.hyperparameters.reasoning_effort",
            "'default', 'low', 'medium' or 'high'",
        ),
        (
            "[defaults.reinforcement.grader]\ntype = 'score_model'\nname = 's'\n"
            "model = 'gpt-4.1'\n"
            "input = [{ role = 'user', content = 'Rate {{sample.output_text}}' }]\n"
            "range = [1, 0]\n",
            "defaults.reinforcement.grader.score_model.range",
            "low must be below high",
        ),
    ],
)
def test_a_bad_reinforcement_block_names_its_key(
    tmp_path: Path, env: dict[str, str], extra: str, key: str, reason: str
) -> None:
    text = "[defaults]\nmodel = 'acme-rft-1'\nmethod = 'reinforcement'\n" + extra
    error = fails(tmp_path, text, env)
    assert key in str(error), str(error)
    assert reason in str(error), str(error)


def test_a_sidecar_brings_its_own_grader_and_other_methods_refuse_one(
    tmp_path: Path, env: dict[str, str]
) -> None:
    grader = RFT_GRADER.replace("[defaults.reinforcement.grader]", "[reinforcement.grader]")
    sidecar = write(tmp_path, "model = 'acme-rft-1'\nmethod = 'reinforcement'\n" + grader, "r.toml")
    run = _defaults(tmp_path, env).merged(load_overrides(sidecar))
    assert run.method == "reinforcement"
    assert run.reinforcement is not None
    assert run.reinforcement.method_body()["grader"]["operation"] == "eq"
    wrong = write(tmp_path, grader, "s.toml")  # the default method, supervised
    with pytest.raises(ConfigError) as caught:
        _defaults(tmp_path, env).merged(load_overrides(wrong))
    assert caught.value.key == "reinforcement"
    assert "applies to method reinforcement only" in str(caught.value)


def test_unknown_models_are_not_second_guessed(tmp_path: Path, env: dict[str, str]) -> None:
    text = "[defaults]\nmodel = 'acme-llm-7b'\nmethod = 'reinforcement'\n" + RFT_GRADER
    assert load(tmp_path, text, env).defaults.model == "acme-llm-7b"


@given(
    n_epochs=st.integers(min_value=-5, max_value=60),
    fractions=st.tuples(
        st.floats(min_value=-0.2, max_value=0.7), st.floats(min_value=-0.2, max_value=0.7)
    ),
)
def test_run_defaults_accept_exactly_the_api_ranges(
    n_epochs: int, fractions: tuple[float, float]
) -> None:
    validation, test = fractions
    valid = (
        1 <= n_epochs <= 50
        and 0 <= validation <= 0.5
        and 0 <= test <= 0.5
        and validation + test < 0.9
    )
    data = {
        "hyperparameters": {"n_epochs": n_epochs},
        "validation_fraction": validation,
        "test_fraction": test,
    }
    if valid:
        assert RunDefaults.model_validate(data).hyperparameters.n_epochs == n_epochs
    else:
        with pytest.raises(ValidationError):
            RunDefaults.model_validate(data)


# ----------------------------------------------------------------------------- provider


def test_azure_needs_an_endpoint(tmp_path: Path, env: dict[str, str]) -> None:
    error = fails(tmp_path, "[provider]\nkind = 'azure'\n", env)
    assert error.key == "provider.azure.endpoint"


@pytest.mark.parametrize("extra", ["", "api_version = '2025-04-01-preview'\nuse_v1_path = true\n"])
def test_azure_needs_exactly_one_of_api_version_and_v1(
    tmp_path: Path, env: dict[str, str], extra: str
) -> None:
    text = f"[provider]\nkind = 'azure'\n[provider.azure]\nendpoint = 'https://r.openai.azure.com'\n{extra}"
    error = fails(tmp_path, text, env)
    assert error.key == "provider.azure.api_version"
    assert "use_v1_path" in str(error)


def test_azure_with_api_version(tmp_path: Path, env: dict[str, str]) -> None:
    text = """
    [provider]
    kind = "azure"
    [provider.azure]
    endpoint = "https://r.openai.azure.com/"
    api_version = "2025-04-01-preview"
    deployments = { "gpt-4.1-mini-2025-04-14" = "mini-prod" }
    """
    provider = load(tmp_path, text, env).provider
    assert provider.azure.endpoint == "https://r.openai.azure.com"
    assert provider.base_url is None  # AzureOpenAI builds its own paths
    assert provider.key_env_name == "AZURE_OPENAI_API_KEY"
    assert provider.azure.deployment_for("gpt-4.1-mini-2025-04-14") == "mini-prod"
    assert provider.azure.deployment_for("gpt-4o-2024-08-06") == "gpt-4o-2024-08-06"


def test_azure_v1_path(tmp_path: Path, env: dict[str, str]) -> None:
    text = """
    [provider]
    kind = "azure"
    azure = { endpoint = "https://r.openai.azure.com", use_v1_path = true }
    """
    provider = load(tmp_path, text, env).provider
    assert provider.base_url == "https://r.openai.azure.com/openai/v1/"


def test_compatible_needs_a_base_url(tmp_path: Path, env: dict[str, str]) -> None:
    error = fails(tmp_path, "[provider]\nkind = 'compatible'\n", env)
    assert error.key == "provider.compatible.base_url"


def test_inactive_profiles_are_kept_but_ignored(tmp_path: Path, env: dict[str, str]) -> None:
    text = """
    [provider.openai]
    base_url = "https://proxy.example/v1"
    [provider.compatible]
    base_url = "http://127.0.0.1:8080/v1"
    """
    assert load(tmp_path, text, env).provider.base_url == "https://proxy.example/v1"
    env["FTD_PROVIDER__KIND"] = "compatible"
    assert load(tmp_path, text, env).provider.base_url == "http://127.0.0.1:8080/v1"


# ----------------------------------------------------------------------------- API key


def test_key_from_the_provider_variable(env: dict[str, str]) -> None:
    env["OPENAI_API_KEY"] = SECRET
    provider = load_settings(None, env).provider
    assert provider.require_api_key().get_secret_value() == SECRET
    assert provider.api_key_source == "environment variable OPENAI_API_KEY"


def test_key_from_file_when_variable_unset(tmp_path: Path, env: dict[str, str]) -> None:
    key_file = write(tmp_path, SECRET + "\n", "key")
    provider = load(tmp_path, f"[provider]\napi_key_file = '{key_file}'\n", env).provider
    assert provider.require_api_key().get_secret_value() == SECRET
    assert provider.api_key_source is not None
    assert str(key_file) in provider.api_key_source


def test_key_from_systemd_credential(tmp_path: Path, env: dict[str, str]) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "openai_api_key").write_text(SECRET)
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    provider = load_settings(None, env).provider
    assert provider.require_api_key().get_secret_value() == SECRET
    assert provider.api_key_source is not None
    assert "systemd credential openai_api_key" in provider.api_key_source


def _three_places(tmp_path: Path, env: dict[str, str]) -> Path:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "openai_api_key").write_text("sk-from-credential")
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    key_file = write(tmp_path, "sk-from-file\n", "key")
    return write(tmp_path, f"[provider]\napi_key_file = '{key_file}'\n")


def test_key_order_env_then_file_then_credential(tmp_path: Path, env: dict[str, str]) -> None:
    config = _three_places(tmp_path, env)
    key = load_settings(config, {**env, "OPENAI_API_KEY": "sk-from-env"}).provider.api_key
    assert key is not None
    assert key.get_secret_value() == "sk-from-env"
    key = load_settings(config, env).provider.api_key
    assert key is not None
    assert key.get_secret_value() == "sk-from-file"
    (tmp_path / "key").unlink()
    key = load_settings(config, env).provider.api_key
    assert key is not None
    assert key.get_secret_value() == "sk-from-credential"


def test_empty_variable_falls_through(tmp_path: Path, env: dict[str, str]) -> None:
    config = _three_places(tmp_path, env)
    key = load_settings(config, {**env, "OPENAI_API_KEY": "  "}).provider.api_key
    assert key is not None
    assert key.get_secret_value() == "sk-from-file"


def test_configured_variable_and_credential_names(tmp_path: Path, env: dict[str, str]) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ftd_key").write_text("sk-cred")
    env |= {"CREDENTIALS_DIRECTORY": str(creds), "OPENAI_API_KEY": "sk-ignored"}
    text = "[provider]\napi_key_env = 'MY_KEY'\ncredential_name = 'ftd_key'\n"
    key = load(tmp_path, text, env).provider.api_key
    assert key is not None
    assert key.get_secret_value() == "sk-cred"
    key = load(tmp_path, text, {**env, "MY_KEY": "sk-mine"}).provider.api_key
    assert key is not None
    assert key.get_secret_value() == "sk-mine"


def test_azure_reads_its_own_variable(tmp_path: Path, env: dict[str, str]) -> None:
    env |= {"OPENAI_API_KEY": "sk-openai", "AZURE_OPENAI_API_KEY": "azure-key"}
    text = """
    [provider]
    kind = "azure"
    azure = { endpoint = "https://r.openai.azure.com", use_v1_path = true }
    """
    key = load(tmp_path, text, env).provider.api_key
    assert key is not None
    assert key.get_secret_value() == "azure-key"


def test_missing_key_loads_but_require_names_every_place(
    tmp_path: Path, env: dict[str, str]
) -> None:
    missing = tmp_path / "absent-key"
    settings = load(tmp_path, f"[provider]\napi_key_file = '{missing}'\n", env)
    assert settings.provider.api_key is None
    with pytest.raises(ConfigError) as caught:
        settings.provider.require_api_key()
    message = str(caught.value)
    assert caught.value.key == "provider.api_key"
    assert "environment variable OPENAI_API_KEY (not set)" in message
    assert f"file {missing}" in message
    assert "systemd credential openai_api_key (CREDENTIALS_DIRECTORY not set)" in message


def test_malformed_key_is_reported_not_skipped(tmp_path: Path, env: dict[str, str]) -> None:
    config = _three_places(tmp_path, env)
    settings = load_settings(config, {**env, "OPENAI_API_KEY": "sk-one sk-two"})
    assert settings.provider.api_key is None
    with pytest.raises(ConfigError) as caught:
        settings.provider.require_api_key()
    assert "OPENAI_API_KEY (holds whitespace" in str(caught.value)
    assert "sk-one" not in str(caught.value)


def test_settings_built_directly_say_how_to_get_a_key() -> None:
    with pytest.raises(ConfigError, match="load_settings"):
        Settings().provider.require_api_key()


def test_secret_never_appears_in_repr_str_or_dumps(tmp_path: Path, env: dict[str, str]) -> None:
    env["OPENAI_API_KEY"] = SECRET
    settings = load_settings(None, env)
    assert settings.provider.api_key is not None
    for text in (
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
        repr(settings.provider),
        repr(settings.provider.api_key),
        str(settings.provider.api_key),
    ):
        assert SECRET not in text


@pytest.mark.parametrize(
    "text",
    [
        f"[provider]\napi_key = '{SECRET}'\n",
        f"[provider.openai]\napi_key = '{SECRET}'\n",
        f"[provider]\nkey = '{SECRET}'\n",
        f"[provider]\napi_key_env = '{SECRET}'\n",
        f"[provider]\napi_key_file = '{SECRET}'\n",
        f"[provider]\ncredential_name = '{SECRET}/x'\n",
        f"[provider.azure]\napi_version = '{SECRET}'\n",
        f"[provider.openai]\nbase_url = 'https://x:{SECRET}@example.com'\n",
        f"[defaults]\nsuffix = '{SECRET}:'\n",
        f"[provider]\napi_kee = '{SECRET}'\n",
    ],
)
def test_secret_never_appears_in_errors(tmp_path: Path, env: dict[str, str], text: str) -> None:
    error = fails(tmp_path, text, env)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)


@pytest.mark.parametrize("table", ["provider", "provider.azure", "provider.compatible"])
def test_key_in_toml_is_refused_with_directions(
    tmp_path: Path, env: dict[str, str], table: str
) -> None:
    error = fails(tmp_path, f"[{table}]\napi_key = '{SECRET}'\n", env)
    assert error.key == f"{table}.api_key"
    message = str(error)
    assert "not accepted" in message
    assert "OPENAI_API_KEY" in message
    assert "provider.api_key_file" in message
    assert "LoadCredential" in message


def test_key_refusal_names_the_azure_variable(tmp_path: Path, env: dict[str, str]) -> None:
    error = fails(tmp_path, f"[provider]\nkind = 'azure'\napi_key = '{SECRET}'\n", env)
    assert "AZURE_OPENAI_API_KEY" in str(error)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FTD_PROVIDER__API_KEY", SECRET),
        ("FTD_PROVIDER", f'{{"api_key": "{SECRET}"}}'),
    ],
)
def test_key_in_ftd_variable_is_refused(env: dict[str, str], name: str, value: str) -> None:
    env[name] = value
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    assert caught.value.key == "provider.api_key"
    assert SECRET not in str(caught.value)


# ----------------------------------------------------------------------------- sidecars


def _defaults(tmp_path: Path, env: dict[str, str], text: str = "") -> RunDefaults:
    return load(tmp_path, text, env).defaults


def test_no_sidecar_gives_the_defaults(tmp_path: Path, env: dict[str, str]) -> None:
    run = _defaults(tmp_path, env, "[defaults]\nseed = 3\n").merged()
    assert (run.model, run.seed, run.validation_file, run.test_fraction) == (
        catalog.DEFAULT_MODEL,
        3,
        None,
        0.1,
    )


def test_sidecar_overrides_merge(tmp_path: Path, env: dict[str, str]) -> None:
    defaults = _defaults(
        tmp_path,
        env,
        """
        [defaults]
        suffix = "base"
        metadata = { team = "support", stage = "dev" }
        hyperparameters = { n_epochs = 3, batch_size = 4 }
        max_cost_usd = 20
        """,
    )
    drop = tmp_path / "incoming"
    drop.mkdir()
    sidecar = write(
        drop,
        """
        model = "gpt-4.1-nano-2025-04-14"
        suffix = "faq"
        seed = 9
        metadata = { stage = "prod" }
        validation_file = "faq.valid.jsonl"
        test_fraction = 0.2
        max_cost_usd = 5
        [hyperparameters]
        batch_size = 16
        """,
        "faq.toml",
    )
    run = defaults.merged(load_overrides(sidecar))
    assert run.model == "gpt-4.1-nano-2025-04-14"
    assert (run.suffix, run.seed) == ("faq", 9)
    assert run.metadata == {"team": "support", "stage": "prod"}
    assert (run.hyperparameters.n_epochs, run.hyperparameters.batch_size) == (3, 16)
    assert run.hyperparameters.learning_rate_multiplier == "auto"
    assert run.validation_file == drop / "faq.valid.jsonl"
    assert run.validation_fraction == 0.0  # the file replaces the split
    assert run.test_fraction == 0.2
    assert run.max_cost_usd == 5.0


def test_sidecar_cannot_raise_the_spend_limit(tmp_path: Path, env: dict[str, str]) -> None:
    sidecar = write(tmp_path, "max_cost_usd = 5000\n", "big.toml")
    run = _defaults(tmp_path, env).merged(load_overrides(sidecar))
    assert run.max_cost_usd == 50.0


def test_sidecar_switching_away_from_dpo_drops_the_default_beta(
    tmp_path: Path, env: dict[str, str]
) -> None:
    defaults = _defaults(tmp_path, env, "[defaults]\nmethod = 'dpo'\nhyperparameters.beta = 0.3\n")
    sidecar = write(tmp_path, "method = 'supervised'\n", "sft.toml")
    run = defaults.merged(load_overrides(sidecar))
    assert run.method == "supervised"
    assert run.hyperparameters.beta == "auto"


def test_sidecar_choosing_dpo_with_beta(tmp_path: Path, env: dict[str, str]) -> None:
    sidecar = write(tmp_path, "method = 'dpo'\nhyperparameters.beta = 0.1\n", "dpo.toml")
    run = _defaults(tmp_path, env).merged(load_overrides(sidecar))
    assert (run.method, run.hyperparameters.beta) == ("dpo", 0.1)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("modle = 'x'\n", "modle"),
        ("[hyperparameters]\nn_epochs = 0\n", "hyperparameters.n_epochs"),
        ("validation_file = '../elsewhere.jsonl'\n", "validation_file"),
        ("test_file = '/etc/passwd.jsonl'\n", "test_file"),
        ("test_file = 'notes.txt'\n", "test_file"),
        ("validation_file = 'v.jsonl'\nvalidation_fraction = 0.2\n", "validation_fraction"),
        ("seed = 2147483648\n", "seed"),
        ("max_cost_usd = -1\n", "max_cost_usd"),
        (f"api_key = '{SECRET}'\n", "api_key"),
        ("auto_approve = true\n", "auto_approve"),  # operator-only
    ],
)
def test_bad_sidecar_names_sidecar_and_key(tmp_path: Path, text: str, key: str) -> None:
    sidecar = write(tmp_path, text, "data.toml")
    with pytest.raises(ConfigError) as caught:
        load_overrides(sidecar)
    assert caught.value.key == key
    assert f"sidecar {sidecar}" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_sidecar_syntax_error_names_sidecar(tmp_path: Path) -> None:
    sidecar = write(tmp_path, "seed = \n", "data.toml")
    with pytest.raises(ConfigError) as caught:
        load_overrides(sidecar)
    assert caught.value.key == str(sidecar)
    assert "line 1" in str(caught.value)


def test_sidecar_conflicting_with_defaults_names_sidecar(
    tmp_path: Path, env: dict[str, str]
) -> None:
    sidecar = write(tmp_path, "method = 'reinforcement'\n", "rft.toml")
    with pytest.raises(ConfigError) as caught:
        _defaults(tmp_path, env).merged(load_overrides(sidecar))
    assert caught.value.key == "method"
    assert f"sidecar {sidecar}" in str(caught.value)


def test_merged_metadata_over_the_limit(tmp_path: Path, env: dict[str, str]) -> None:
    pairs = ", ".join(f"d{i} = 'v'" for i in range(10))
    defaults = _defaults(tmp_path, env, f"[defaults]\nmetadata = {{ {pairs} }}\n")
    more = ", ".join(f"s{i} = 'v'" for i in range(5))
    sidecar = write(tmp_path, f"metadata = {{ {more} }}\n", "meta.toml")
    with pytest.raises(ConfigError) as caught:
        defaults.merged(load_overrides(sidecar))
    assert caught.value.key == "metadata"


def test_sidecar_file_symlinked_outside_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    outside = write(tmp_path, "{}\n", "secret.jsonl")
    (drop / "v.jsonl").symlink_to(outside)
    sidecar = write(drop, "validation_file = 'v.jsonl'\n", "data.toml")
    overrides = load_overrides(sidecar)
    with pytest.raises(ConfigError) as caught:
        _defaults(tmp_path, env).merged(overrides)
    assert caught.value.key == "validation_file"
    assert str(sidecar) in str(caught.value)


def test_overrides_default_to_nothing() -> None:
    assert DatasetOverrides().model_dump(exclude_none=True) == {}


# ----------------------------------------------------------------------------- prices


def test_price_falls_back_to_the_catalogue(env: dict[str, str]) -> None:
    settings = load_settings(None, env)
    entry = catalog.lookup(catalog.DEFAULT_MODEL)
    assert entry is not None
    assert settings.price_for(catalog.DEFAULT_MODEL) == Price(
        training_per_mtok=entry.training_price_per_mtok,
        training_per_hour=entry.training_price_per_hour,
        input_per_mtok=entry.input_price_per_mtok,
        output_per_mtok=entry.output_price_per_mtok,
    )
    rft = settings.price_for("o4-mini")
    assert (rft.training_per_mtok, rft.training_per_hour) == (None, 100.0)


def test_unknown_model_has_no_price(env: dict[str, str]) -> None:
    assert load_settings(None, env).price_for("acme-7b") == Price()


def test_price_override_replaces_only_what_it_names(tmp_path: Path, env: dict[str, str]) -> None:
    settings = load(tmp_path, '[prices."gpt-4.1-mini"]\ntraining_per_mtok = 6.5\n', env)
    for model in (
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-mini",
        "ft:gpt-4.1-mini-2025-04-14:acme:faq:abc123",
        "gpt-4.1-mini-2026-01-01",  # newer snapshot of the family
    ):
        price = settings.price_for(model)
        assert price.training_per_mtok == 6.5, model
        assert price.input_per_mtok == 0.8, model
    assert settings.price_for("gpt-4.1-2025-04-14").training_per_mtok == 25.0


def test_price_for_an_unknown_model_from_configuration(tmp_path: Path, env: dict[str, str]) -> None:
    settings = load(tmp_path, '[prices."acme-7b"]\ntraining_per_mtok = 1.25\n', env)
    assert settings.price_for("acme-7b") == Price(training_per_mtok=1.25)


def test_alias_and_snapshot_for_the_same_model_conflict(
    tmp_path: Path, env: dict[str, str]
) -> None:
    text = (
        '[prices."gpt-4o"]\ntraining_per_mtok = 1\n'
        '[prices."gpt-4o-2024-08-06"]\ntraining_per_mtok = 2\n'
    )
    assert fails(tmp_path, text, env).key == "prices"


# ----------------------------------------------------------------------------- example file


def _uncommented(text: str) -> str:
    """The example's `#key = value` and `#[table]` lines made live; prose stays comment."""
    return re.sub(r"(?m)^#(?=\[|[A-Za-z_][A-Za-z0-9_-]*\s*=)", "", text)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _schema_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        dotted = prefix + name
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("internal"):
            continue  # set by ftd itself, refused in the file
        if get_origin(field.annotation) is dict:
            inner = _model_of(get_args(field.annotation)[1])
            keys |= _schema_keys(inner, dotted + ".*.") if inner else {dotted}
        elif (inner := _model_of(field.annotation)) is not None:
            keys |= _schema_keys(inner, dotted + ".")
        else:
            keys.add(dotted)
    return keys


def _documented_keys(data: dict[str, Any], model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in data.items():
        dotted = prefix + name
        field = model.model_fields.get(name)
        if field is not None and isinstance(value, list) and value:
            inner = _model_of(field.annotation)
            if inner is not None and all(isinstance(entry, dict) for entry in value):
                for entry in value:  # a list of tables, such as integrations
                    keys |= _documented_keys(entry, inner, dotted + ".")
                continue
        if field is None or not isinstance(value, dict):
            keys.add(dotted)
        elif get_origin(field.annotation) is dict:
            inner = _model_of(get_args(field.annotation)[1])
            if inner is None:
                keys.add(dotted)  # a free-form table such as metadata
                continue
            for entry in value.values():
                keys |= _documented_keys(entry, inner, dotted + ".*.")
        elif (inner := _model_of(field.annotation)) is not None:
            keys |= _documented_keys(value, inner, dotted + ".")
        else:
            keys.add(dotted)
    return keys


def test_example_documents_every_key_and_only_known_keys() -> None:
    documented = _documented_keys(tomllib.loads(_uncommented(EXAMPLE.read_text())), Settings)
    schema = _schema_keys(Settings)
    # A [providers.NAME] profile takes [provider]'s keys, documented once there.
    profile = "providers.*."
    assert {k for k in documented if k.startswith(profile)}
    assert {"provider." + k.removeprefix(profile) for k in documented if k.startswith(profile)} <= (
        documented
    )
    documented = {k for k in documented if not k.startswith(profile)}
    schema = {k for k in schema if not k.startswith(profile)}
    assert schema - documented == set(), "undocumented keys"
    assert documented - schema == set(), "documented keys ftd does not know"


def test_example_loads_to_the_defaults(env: dict[str, str]) -> None:
    assert load_settings(EXAMPLE, env).model_dump() == load_settings(None, env).model_dump()


def test_example_with_every_key_uncommented_loads(tmp_path: Path, env: dict[str, str]) -> None:
    live = write(tmp_path, _uncommented(EXAMPLE.read_text()), "live.toml")
    settings = load_settings(live, env)
    assert settings.prices  # the commented [prices."MODEL"] table came alive
    assert settings.provider.azure.endpoint is not None


def test_a_sidecar_nested_too_deeply_is_a_config_error(tmp_path: Path) -> None:
    sidecar = tmp_path / "deep.toml"
    sidecar.write_text("seed = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="invalid TOML: nested too deeply"):
        load_overrides(sidecar)


@pytest.mark.parametrize(
    ("wandb", "shown"),
    [
        ('project = "p"\ntags = ["' + "x" * 65 + '"]', "tags.0"),
        ('project = "p"\ntags = [' + ", ".join(['"t"'] * 51) + "]", "tags"),
        ('name = "no project"', "project"),
        ('project = "p"\ntoken = "s3cret"', "registers it in the dashboard"),
    ],
)
def test_bad_wandb_integrations_are_refused(tmp_path: Path, wandb: str, shown: str) -> None:
    sidecar = tmp_path / "d.toml"
    sidecar.write_text(f'[[integrations]]\ntype = "wandb"\n[integrations.wandb]\n{wandb}\n')
    with pytest.raises(ConfigError) as raised:
        load_overrides(sidecar)
    assert shown in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_a_sidecars_integrations_replace_the_defaults(tmp_path: Path) -> None:
    from ftd.config.run import RunDefaults

    defaults = RunDefaults.model_validate(
        {"integrations": [{"type": "wandb", "wandb": {"project": "all"}}]}
    )
    sidecar = tmp_path / "d.toml"
    sidecar.write_text("integrations = []\n")
    assert defaults.merged(load_overrides(sidecar)).integrations == []
    assert [i.wandb.project for i in defaults.merged().integrations] == ["all"]
    dumped = defaults.merged().model_dump(mode="json")["integrations"]
    assert dumped == [
        {"type": "wandb", "wandb": {"project": "all", "name": None, "entity": None, "tags": []}}
    ]
