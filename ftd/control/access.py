"""Who may talk to the daemon: peer credentials checked on every connection.

The socket file's mode (0660) and group already keep strangers out; the
credentials the kernel reports for the connecting process (``SO_PEERCRED``,
which the peer cannot forge) are checked as well, so a socket made too open by
mistake still admits only root, the daemon's own user and the configured
group. Commands that change things may be kept to a narrower group.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from dataclasses import dataclass

from ftd.errors import ConfigError

_UCRED = struct.Struct("3i")


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int

    @property
    def user(self) -> str:
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return str(self.uid)

    def describe(self) -> str:
        return f"uid {self.uid} ({self.user}), pid {self.pid}"


def peer_of(sock: socket.socket) -> Peer:
    pid, uid, gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    return Peer(pid, uid, gid)


def _supplementary_groups(pid: int) -> set[int]:
    """The groups of the process now (``newgrp`` and ``sg`` show here, not in /etc/group)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Groups:"):
                    return {int(g) for g in line.split()[1:] if g.isdigit()}
    except OSError:
        pass
    return set()


def _group_id(key: str, name: str | None) -> int | None:
    if name is None:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(key, f"no group named {name!r} on this host") from None


class Access:
    """The rules for one daemon; group names are resolved once, at start."""

    def __init__(
        self,
        *,
        group: str | None,
        admin_group: str | None,
        own_uid: int | None = None,
        own_gid: int | None = None,
    ) -> None:
        self.own_uid = os.geteuid() if own_uid is None else own_uid
        own_gid = os.getegid() if own_gid is None else own_gid
        configured = _group_id("control.group", group)
        self.gid = own_gid if configured is None else configured
        self.admin_gid = _group_id("control.admin_group", admin_group)

    def _member(self, peer: Peer, gid: int) -> bool:
        if peer.gid == gid:
            return True
        try:
            entry = grp.getgrgid(gid)
        except KeyError:
            entry = None
        if entry is not None and peer.user in entry.gr_mem:
            return True
        return gid in _supplementary_groups(peer.pid)

    def _trusted(self, peer: Peer) -> bool:
        return peer.uid in (0, self.own_uid)

    def may_connect(self, peer: Peer) -> bool:
        return self._trusted(peer) or self._member(peer, self.gid)

    def may_change(self, peer: Peer) -> bool:
        if self.admin_gid is None:
            return self.may_connect(peer)
        return self._trusted(peer) or self._member(peer, self.admin_gid)

    def approves_by_file(self, uid: int) -> bool:
        """Whether an approval marker owned by ``uid`` may release spending.

        Root, ftd itself, or a member of ``control.admin_group``; with no admin
        group, no one else: a producer can make files, not approve them.
        """
        if uid in (0, self.own_uid):
            return True
        if self.admin_gid is None:
            return False
        try:
            user = pwd.getpwuid(uid)
        except KeyError:
            return False
        if user.pw_gid == self.admin_gid:
            return True
        try:
            return user.pw_name in grp.getgrgid(self.admin_gid).gr_mem
        except KeyError:
            return False

    def _name(self, gid: int) -> str:
        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            return str(gid)

    def who_may_connect(self) -> str:
        return f"root, uid {self.own_uid} and members of group {self._name(self.gid)!r}"

    def who_may_change(self) -> str:
        gid = self.admin_gid if self.admin_gid is not None else self.gid
        return f"root, uid {self.own_uid} and members of group {self._name(gid)!r}"
