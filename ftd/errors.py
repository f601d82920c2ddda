"""Every error ftd raises on purpose derives from FtdError and says what and where."""

from __future__ import annotations


class FtdError(Exception):
    """Base of ftd's own errors; the message is meant for a person."""


class ConfigError(FtdError):
    """The configuration is invalid; the daemon exits with EX_CONFIG (78)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config {key}: {message}")
        self.key = key


class InputFileError(FtdError):
    """A file given to ftd cannot be read at all (missing, a directory, no permission)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class RemoteError(FtdError):
    """A provider call failed; ``kind`` says what it means, ``retryable`` whether to try again."""

    def __init__(
        self,
        operation: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        kind: str = "transient",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.status = status
        self.code = code
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
