"""Putting a dataset into the drop folder safely, from the command line or from a program.

A file written in place in ``incoming/`` can be seen half written; ftd waits
for it to settle, but the safe way needs no waiting: write the whole file in
the drop folder's ``staging/`` area (same file system), then give it its name
in ``incoming/`` in one step. Companion files go first, then the sidecar, the
dataset last, so the daemon never sees a dataset without its sidecar. Names
are never overwritten: ``faq.jsonl`` becomes ``faq-2.jsonl`` when taken.
Once the dataset has its name, a ticket in ``staging/`` says so, and the
daemon takes the file without waiting for it to settle (see ``ftd.intake``).

Works without the daemon running, with only write access to the folder::

    from ftd.submit import dataset_writer

    with dataset_writer("/srv/ftd/drop", "faq.jsonl") as out:
        for example in examples:
            out.write(json.dumps(example) + "\\n")
    # published on leaving the block; discarded if the block raised

Standard library only: the ``ftd submit`` command imports it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from ftd.intake import SIDECAR_SUFFIX, sidecar_companions, ticket_body, ticket_name

if TYPE_CHECKING:
    from collections.abc import Iterator

DATASET_SUFFIX = ".jsonl"
MAX_NAME_TRIES = 1000


class SubmitError(Exception):
    """The dataset cannot be put into the drop folder; the message says what and where."""


def _folders(drop_dir: Path) -> tuple[Path, Path]:
    incoming = drop_dir / "incoming"
    if not incoming.is_dir():
        raise SubmitError(
            f"{incoming} is not a folder: is {drop_dir} the drop folder? "
            "(ftd run creates it at start)"
        )
    staging = drop_dir / "staging"
    try:
        staging.mkdir(exist_ok=True)
    except OSError as exc:
        raise SubmitError(f"cannot use {staging}: {exc.strerror or exc}") from None
    return incoming, staging


def _stage_copy(source: Path, staging: Path) -> Path:
    target = staging / f".{secrets.token_hex(8)}.part"
    try:
        with source.open("rb") as reader, target.open("xb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise SubmitError(f"cannot copy {source} into {staging}: {exc.strerror or exc}") from None
    return target


def _link(staged: Path, final: Path) -> bool:
    """Give a staged file its name without replacing anything; False if the name is taken."""
    try:
        os.link(staged, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise SubmitError(f"cannot publish {final}: {exc.strerror or exc}") from None
        if final.exists() or final.is_symlink():
            return False
        os.rename(staged, final)  # no hard links here: a rename after the check
        return True
    staged.unlink()
    return True


def _candidates(name: str) -> Iterator[str]:
    stem = name[: -len(DATASET_SUFFIX)]
    yield name
    for number in range(2, MAX_NAME_TRIES):
        yield f"{stem}-{number}{DATASET_SUFFIX}"


def _check_name(name: str) -> str:
    if "/" in name or name.startswith(".") or not name.endswith(DATASET_SUFFIX):
        raise SubmitError(
            f"{name!r}: the drop folder takes visible *.jsonl names without a folder part"
        )
    return name


def _vouch(staging: Path, published: Path) -> None:
    """The ticket that lets the daemon take ``published`` at once; without it, it waits."""
    try:
        info = os.stat(published, follow_symlinks=False)
        temporary = staging / f".{secrets.token_hex(8)}.ticket.part"
        temporary.write_bytes(ticket_body(published.name, info))
        os.replace(temporary, staging / ticket_name(info.st_ino))
    except OSError:
        return  # the dataset is published all the same; the daemon waits out stable_seconds


def _publish_staged(
    incoming: Path,
    staging: Path,
    name: str,
    dataset: Path,
    sidecar: Path | None,
    companions: dict[str, Path],
) -> Path:
    for relative, staged in companions.items():
        if not _link(staged, incoming / relative):
            raise SubmitError(
                f"{incoming / relative} exists already (another dataset's file?); "
                "rename the companion file and its mention in the sidecar"
            )
    for candidate in _candidates(name):
        stem = candidate[: -len(DATASET_SUFFIX)]
        if sidecar is not None:
            side_name = incoming / (stem + SIDECAR_SUFFIX)
            if (incoming / candidate).exists() or not _link(sidecar, side_name):
                continue
        if _link(dataset, incoming / candidate):
            _vouch(staging, incoming / candidate)
            return incoming / candidate
        if sidecar is not None:
            # Taken meanwhile: take the sidecar back and try the next name.
            os.rename(side_name, sidecar)
    raise SubmitError(f"no free name for {name} in {incoming} after {MAX_NAME_TRIES} tries")


def publish(
    dataset: Path | str,
    drop_dir: Path | str,
    *,
    sidecar: Path | str | None = None,
    name: str | None = None,
) -> Path:
    """Copy a dataset (and its sidecar and the files that names) into the drop folder."""
    source = Path(dataset)
    if not source.is_file():
        raise SubmitError(f"{source}: not a readable file")
    final_name = _check_name(name or source.name)
    incoming, staging = _folders(Path(drop_dir))
    staged: list[Path] = []
    try:
        companions: dict[str, Path] = {}
        staged_sidecar = None
        if sidecar is not None:
            side_source = Path(sidecar)
            if not side_source.is_file():
                raise SubmitError(f"{side_source}: not a readable file")
            for relative in sidecar_companions(str(side_source)).values():
                if len(PurePosixPath(relative).parts) != 1:
                    raise SubmitError(
                        f"{side_source} names {relative!r}: companion files must sit beside "
                        "the sidecar (a plain file name)"
                    )
                companions[relative] = _stage_copy(side_source.parent / relative, staging)
                staged.append(companions[relative])
            staged_sidecar = _stage_copy(side_source, staging)
            staged.append(staged_sidecar)
        staged_dataset = _stage_copy(source, staging)
        staged.append(staged_dataset)
        return _publish_staged(
            incoming, staging, final_name, staged_dataset, staged_sidecar, companions
        )
    finally:
        for path in staged:
            with contextlib.suppress(OSError):
                path.unlink()


@contextlib.contextmanager
def dataset_writer(
    drop_dir: Path | str, name: str, *, sidecar_text: str | None = None
) -> Iterator[IO[str]]:
    """A text file in the staging area, published as ``name`` when the block ends without error.

    ``sidecar_text``, if given, is published first as the dataset's sidecar.
    """
    final_name = _check_name(name)
    incoming, staging = _folders(Path(drop_dir))
    staged = staging / f".{secrets.token_hex(8)}.part"
    staged_sidecar = None
    try:
        with staged.open("x", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if sidecar_text is not None:
            staged_sidecar = staging / f".{secrets.token_hex(8)}.part"
            staged_sidecar.write_text(sidecar_text, encoding="utf-8")
        _publish_staged(incoming, staging, final_name, staged, staged_sidecar, {})
    finally:
        for path in (staged, staged_sidecar):
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()
