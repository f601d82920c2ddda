"""The OpenAI adapter's batch primitives: the SDK's ``batches`` and ``files``, translated.

Kept beside :mod:`ftd.providers.openai_api` so the adapter's job and file code
stays as it was; any server speaking OpenAI's batch routes gets these too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai

from ftd.providers.batches import BatchOperations, batch_of
from ftd.providers.types import ChatAnswer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from ftd.providers.batches import RemoteBatch
    from ftd.providers.core import CallPolicy
    from ftd.providers.types import RemoteFile

_CHUNK = 1 << 16
# How far back a lost upload is looked for: the newest batch files, one page.
_FIND_FILE_PAGE = 100


class OpenAIBatches(BatchOperations):
    _client: openai.AsyncOpenAI
    if TYPE_CHECKING:
        _policy: CallPolicy

    async def _op_batch_upload(self, path: Path, filename: str) -> RemoteFile:
        from ftd.providers.openai_api import file_of

        with path.open("rb") as handle:
            item = await self._client.files.create(
                file=(filename, handle, "application/jsonl"),
                purpose="batch",
                timeout=self._policy.upload_timeout,
            )
        return file_of(item)

    async def _op_batch_find_file(self, filename: str) -> RemoteFile | None:
        from ftd.providers.openai_api import file_of

        page = await self._client.files.list(purpose="batch", order="desc", limit=_FIND_FILE_PAGE)
        for item in page.data:
            if item.filename == filename:
                return file_of(item)
        return None

    async def _op_batch_create(
        self, input_file_id: str, endpoint: str, metadata: dict[str, str]
    ) -> RemoteBatch:
        item = await self._client.batches.create(
            input_file_id=input_file_id,
            endpoint=endpoint,  # type: ignore[arg-type]
            completion_window="24h",
            metadata=metadata,
        )
        return batch_of(item)

    async def _op_batch(self, batch_id: str) -> RemoteBatch:
        return batch_of(await self._client.batches.retrieve(batch_id))

    async def _op_batches_page(
        self, after: str | None, limit: int
    ) -> tuple[list[RemoteBatch], bool]:
        page = await self._client.batches.list(limit=limit, after=after or openai.omit)
        return [batch_of(b) for b in page.data], bool(page.has_more)

    async def _op_batch_cancel(self, batch_id: str) -> RemoteBatch:
        return batch_of(await self._client.batches.cancel(batch_id))

    def batch_answer(self, body: dict[str, Any]) -> ChatAnswer:
        quick = _plain_answer(body)  # (every line of every output file: nothing imported)
        if quick is not None:
            return quick
        from openai.types.chat import ChatCompletion

        from ftd.providers.openai_api import answer_of

        return answer_of(ChatCompletion.model_validate(body))

    async def _op_file_stream(self, file_id: str) -> AsyncIterator[bytes]:
        async with self._client.files.with_streaming_response.content(file_id) as response:
            async for chunk in response.iter_bytes(_CHUNK):
                yield chunk


def _plain_answer(body: dict[str, Any]) -> ChatAnswer | None:
    """The common case, a text answer with its usage, read without building the SDK's model
    (what ``answer_of`` would make of it); anything else goes the SDK's way."""
    choices = body.get("choices")
    usage = body.get("usage")
    if not isinstance(choices, list) or not choices or not isinstance(usage, dict):
        return None
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(content, str) or not isinstance(prompt, int):
        return None
    if not isinstance(completion, int):
        return None
    model = body.get("model")
    return ChatAnswer(
        text=content,
        prompt_tokens=prompt,
        completion_tokens=completion,
        finish_reason=choice.get("finish_reason"),
        model=model if isinstance(model, str) else None,
        usage=usage,
    )
