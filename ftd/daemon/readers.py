"""Whether the producers can read the reports ftd writes beside their files, and if not, why.

A report is made 0600 and then shared with its producer alone by a POSIX ACL
entry (``nofollow.share``). Where the drop folder's file system has no ACLs (ramfs, some network
file systems, a mount without them), a daemon running as root hands the
report to the producer instead (it becomes theirs, still 0600); a daemon
running as its own user can do neither, so the report stays readable by ftd
only. That is never silent: it is logged once per folder and shown among
``ftd status``'s warnings with what the administrator can do. Making the
report readable by the producers' group instead would let every producer read
every other producer's report, so ftd does not do that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd.logs import get_logger

if TYPE_CHECKING:
    from pathlib import Path

log = get_logger("ftd.daemon.readers")
ADVICE = (
    "mount its file system with POSIX ACLs (ext4, xfs, btrfs and tmpfs have them; "
    "ramfs and some network file systems do not), or run ftd where it may hand "
    "reports to their producers (as root)"
)

# folder -> the reason its reports stay ftd's alone, for ``ftd status``.
unshared: dict[str, str] = {}


def note_unshared(folder: Path) -> None:
    """Say once per folder that its reports are ftd's alone, and keep it for status."""
    where = str(folder)
    if where in unshared:
        return
    reason = f"{where} has no POSIX ACLs, so its reports are readable by ftd alone"
    unshared[where] = reason
    log.warning("report_not_shared", folder=where, reason=reason, advice=ADVICE)


def warnings() -> list[dict[str, str]]:
    return [
        {"kind": "reports_not_shared", "message": f"{reason}: {ADVICE}"}
        for reason in unshared.values()
    ]
