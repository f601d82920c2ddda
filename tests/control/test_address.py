"""How a client finds the socket and the drop folder, the way the daemon would place them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftd.control.address import ConfigFileError, drop_dir, socket_path


def test_explicit_beats_variables_beats_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[control]\nsocket = "/from/file.sock"\n')
    env = {"FTD_CONFIG": str(config), "FTD_SOCKET": "/from/env.sock", "HOME": "/home/u"}
    assert socket_path("/given.sock", None, env) == Path("/given.sock")
    assert socket_path(None, None, env) == Path("/from/env.sock")
    del env["FTD_SOCKET"]
    assert socket_path(None, None, env) == Path("/from/file.sock")


def test_runtime_dir_from_the_file_or_a_variable(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[paths]\nruntime_dir = "/srv/run"\nstate_dir = "/srv/state"\n')
    assert socket_path(None, config, {"HOME": "/h"}) == Path("/srv/run/ftd.sock")
    env = {"HOME": "/h", "FTD_PATHS__RUNTIME_DIR": "/v/run"}
    assert socket_path(None, config, env) == Path("/v/run/ftd.sock")
    assert drop_dir(None, config, {"HOME": "/h"}) == Path("/srv/state/drop")
    assert drop_dir(None, config, {"HOME": "/h", "FTD_PATHS__DROP_DIR": "/d"}) == Path("/d")


def test_defaults_follow_the_users_runtime_dir(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "rt")}
    found = socket_path(None, None, env)
    assert found in (tmp_path / "rt" / "ftd" / "ftd.sock", Path("/run/ftd/ftd.sock"))


def test_a_config_file_named_on_purpose_must_be_readable(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"missing\.toml"):
        socket_path(None, tmp_path / "missing.toml", {"HOME": "/h"})
    broken = tmp_path / "broken.toml"
    broken.write_text("[control\n")
    with pytest.raises(ConfigFileError, match=r"broken\.toml"):
        drop_dir(None, broken, {"HOME": "/h"})
