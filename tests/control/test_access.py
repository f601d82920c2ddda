"""Who may talk to the daemon, and who may change things: the rules on synthetic peers."""

from __future__ import annotations

import os
import subprocess

import pytest

from ftd.control.access import Access, Peer
from ftd.errors import ConfigError

DAEMON_GID = 1  # group "daemon" exists on Debian
ADM_GID = 4  # group "adm"
STRANGER = 54321


def peer(uid: int, gid: int) -> Peer:
    # pid 0 has no /proc entry: only the uid and gid the kernel reported count.
    return Peer(pid=0, uid=uid, gid=gid)


def test_root_and_the_daemons_own_user_are_always_admitted() -> None:
    rules = Access(group="daemon", admin_group="adm", own_uid=1234, own_gid=1234)
    for who in (peer(0, 0), peer(1234, 99)):
        assert rules.may_connect(who)
        assert rules.may_change(who)


def test_group_members_may_read_and_only_admins_may_change() -> None:
    rules = Access(group="daemon", admin_group="adm", own_uid=1234, own_gid=1234)
    reader = peer(STRANGER, DAEMON_GID)
    assert rules.may_connect(reader)
    assert not rules.may_change(reader)
    admin = peer(STRANGER, ADM_GID)
    assert rules.may_change(admin)
    assert not rules.may_connect(admin)  # the admin group is for changes; reading needs the group
    assert not rules.may_connect(peer(STRANGER, STRANGER))
    assert "members of group 'daemon'" in rules.who_may_connect()
    assert "members of group 'adm'" in rules.who_may_change()


def test_without_an_admin_group_readers_may_change() -> None:
    rules = Access(group=None, admin_group=None, own_uid=1234, own_gid=DAEMON_GID)
    member = peer(STRANGER, DAEMON_GID)
    assert rules.may_connect(member)
    assert rules.may_change(member)
    assert not rules.may_change(peer(STRANGER, STRANGER))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process with other groups")
def test_supplementary_groups_of_the_live_process_count() -> None:
    # Groups given with newgrp or sg show in /proc, not in /etc/group.
    rules = Access(group="adm", admin_group=None, own_uid=1234, own_gid=1234)
    with subprocess.Popen(
        ["/bin/sleep", "30"], user=STRANGER, group=STRANGER, extra_groups=[ADM_GID]
    ) as child:
        try:
            assert rules.may_connect(Peer(pid=child.pid, uid=STRANGER, gid=STRANGER))
        finally:
            child.kill()
    assert not rules.may_connect(Peer(pid=0, uid=STRANGER, gid=STRANGER))


@pytest.mark.parametrize("key", ["group", "admin_group"])
def test_an_unknown_group_names_its_key(key: str) -> None:
    names: dict[str, str | None] = {"group": None, "admin_group": None, key: "no-such-group-x"}
    with pytest.raises(ConfigError, match=rf"control\.{key}: no group named 'no-such-group-x'"):
        Access(group=names["group"], admin_group=names["admin_group"])
