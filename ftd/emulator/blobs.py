"""Where file and upload-part bytes live: in memory, or in a directory beside the state db.

Uploads arrive as a stream of chunks; a writer collects them (a list joined
once in memory, or a temporary file renamed into place on disk) so a 512 MB
upload is never held twice, and a rejected upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable


class BlobWriter(Protocol):
    size: int

    def write(self, chunk: bytes) -> None: ...

    def commit(self, key: str) -> None: ...

    def discard(self) -> None: ...


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...

    def read(self, key: str) -> bytes: ...

    def path(self, key: str) -> Path | None: ...

    def put(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def concatenate(self, keys: Iterable[str], dest: str) -> tuple[int, str]:
        """Join blobs into a new one; returns its size and md5 hex digest."""
        ...


class _MemoryWriter:
    def __init__(self, store: MemoryBlobs) -> None:
        self._store = store
        self._chunks: list[bytes] = []
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self.size += len(chunk)

    def commit(self, key: str) -> None:
        self._store.put(key, b"".join(self._chunks))
        self._chunks.clear()

    def discard(self) -> None:
        self._chunks.clear()


class MemoryBlobs:
    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def writer(self) -> BlobWriter:
        return _MemoryWriter(self)

    def read(self, key: str) -> bytes:
        return self._data[key]

    def path(self, key: str) -> Path | None:
        return None

    def put(self, key: str, data: bytes) -> None:
        self._data[key] = data

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def concatenate(self, keys: Iterable[str], dest: str) -> tuple[int, str]:
        data = b"".join(self._data[k] for k in keys)
        self._data[dest] = data
        return len(data), hashlib.md5(data, usedforsecurity=False).hexdigest()


class _DiskWriter:
    def __init__(self, root: Path) -> None:
        self._root = root
        handle, name = tempfile.mkstemp(dir=root, prefix=".incoming-")
        self._file = os.fdopen(handle, "wb")
        self._temp = Path(name)
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.size += len(chunk)

    def commit(self, key: str) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._temp, self._root / key)

    def discard(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


class DiskBlobs:
    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.glob(".incoming-*"):
            leftover.unlink(missing_ok=True)

    def writer(self) -> BlobWriter:
        return _DiskWriter(self._root)

    def read(self, key: str) -> bytes:
        return (self._root / key).read_bytes()

    def path(self, key: str) -> Path | None:
        return self._root / key

    def put(self, key: str, data: bytes) -> None:
        writer = _DiskWriter(self._root)
        writer.write(data)
        writer.commit(key)

    def delete(self, key: str) -> None:
        (self._root / key).unlink(missing_ok=True)

    def concatenate(self, keys: Iterable[str], dest: str) -> tuple[int, str]:
        digest = hashlib.md5(usedforsecurity=False)
        writer = _DiskWriter(self._root)
        try:
            for key in keys:
                with (self._root / key).open("rb") as source:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        writer.write(chunk)
        except BaseException:
            writer.discard()
            raise
        writer.commit(dest)
        return writer.size, digest.hexdigest()
