"""The check the real service runs at ``validating_files``, done the emulator's own way.

Its checks are deliberately independent of ftd's validator: the emulator must
reject a bad file even when a client skipped validation, and it must not share
a bug with the code it is there to test. It is lighter too: it checks the shape
the chosen method needs, special-token text and the example count, and it
gathers what the rest of the emulator needs from a good file: the prompt →
reply pairs the fine-tuned model will answer from, and billable tokens. Billing
is the one thing shared on purpose: the emulator's ``trained_tokens`` come from
the same function as ``ftd validate``'s estimate (ftd/datasets/tokens.py), so
the two agree with each other and with what OpenAI bills.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ftd import catalog
from ftd.datasets.tokens import TokenCounter

if TYPE_CHECKING:
    from collections.abc import Iterator

MIN_TRAINING_EXAMPLES = 10
SPECIAL_TOKEN_TEXTS = (
    "<|endoftext|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|endofprompt|>",
)
# Text that makes the emulator's moderation flag an example, so tests can exercise the
# real service's moderation failure ("This file failed moderation safety checks").
MODERATION_MARKER = "[ftd-emulator: flag for moderation]"
MODERATION_MESSAGE = (
    "This file failed moderation safety checks. The OpenAI Moderation API identifies fine "
    "tuning examples that violate our content policies. To fine tune on this data, please "
    "try removing the flagged lines and uploading the file again. Flagged lines: "
)
MAX_FLAGGED_SHOWN = 5
_CHAT_ROLES = ("system", "user", "assistant", "tool", "function")
_RFT_ROLES = ("developer", "system", "user", "assistant", "tool")


@dataclass(frozen=True, slots=True)
class Example:
    """What a fine-tuned model learned from one example: a prompt and its reply."""

    prompt: str
    reply: str


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    n_examples: int
    billable_tokens: int  # one epoch, each example capped at the model's training context
    examples: tuple[Example, ...]


@dataclass(frozen=True, slots=True)
class DatasetProblem:
    """Why the job fails; ``code`` and ``param`` go to ``job.error`` unchanged."""

    code: str
    message: str
    param: str


class _Invalid(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return ""


def _check_messages(messages: object, where: str, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise _Invalid(f"{where}: 'messages' must be a non-empty list")
    checked: list[dict[str, Any]] = []
    for m, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise _Invalid(f"{where}, message {m} is not an object")
        if "role" not in message:
            raise _Invalid(f"{where}, message {m} Discriminator 'role' is missing in value")
        role = message["role"]
        if role not in roles:
            expected = ", ".join(f"'{r}'" for r in roles)
            raise _Invalid(
                f"{where}, message {m} Input tag '{role}' found using 'role' does not match "
                f"any of the expected tags: {expected}"
            )
        content = message.get("content")
        has_call = bool(message.get("tool_calls") or message.get("function_call"))
        if content is None and not (role == "assistant" and has_call):
            raise _Invalid(f"{where}, message {m} is missing 'content'")
        if content is not None and not isinstance(content, str | list):
            raise _Invalid(f"{where}, message {m} 'content' must be a string or a list of parts")
        weight = message.get("weight")
        if weight is not None and weight not in (0, 1):
            raise _Invalid(f"{where}, message {m} 'weight' must be 0 or 1")
        checked.append(message)
    return checked


def _prompt_and_reply(messages: list[dict[str, Any]]) -> Example | None:
    last_assistant = max(
        (i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None
    )
    upto = len(messages) if last_assistant is None else last_assistant
    prompt = next(
        (_text_of(m.get("content")) for m in reversed(messages[:upto]) if m["role"] == "user"),
        "",
    )
    if last_assistant is None:
        return None
    reply_message = messages[last_assistant]
    reply = _text_of(reply_message.get("content"))
    if not reply and reply_message.get("tool_calls"):
        reply = orjson.dumps(reply_message["tool_calls"]).decode()
    return Example(prompt, reply)


def _texts(messages: list[dict[str, Any]]) -> Iterator[str]:
    for message in messages:
        yield _text_of(message.get("content"))
        if message.get("name"):
            yield str(message["name"])
        for key in ("tool_calls", "function_call"):
            if message.get(key):
                yield orjson.dumps(message[key]).decode()


def _special_token(texts: list[str]) -> str | None:
    for text in texts:
        if "<|" in text:
            for special in SPECIAL_TOKEN_TEXTS:
                if special in text:
                    return special
    return None


def _parse_line(
    record: object, n: int, method: str, file_id: str
) -> tuple[list[str], Example | None]:
    """Texts to count and the learned pair of one example; raises _Invalid."""
    where = f"Example {n}"
    if not isinstance(record, dict):
        raise _Invalid(f"Line {n} is not a JSON object")
    if method == catalog.DPO:
        if "messages" in record:
            raise _Invalid(
                f"Input file {file_id} is in the fine-tune-chat format, but the specified "
                "fine-tuning job is not using 'supervised' as the training method "
                f"(provided method={method})."
            )
        source = record.get("input")
        if not isinstance(source, dict):
            raise _Invalid(f"{where}: 'input' must be an object with 'messages'")
        messages = _check_messages(source.get("messages"), where, _CHAT_ROLES)
        outputs: list[dict[str, Any]] = []
        for key in ("preferred_output", "non_preferred_output"):
            value = record.get(key)
            if not isinstance(value, list) or len(value) != 1:
                raise _Invalid(f"{where}: '{key}' must be a list of exactly one assistant message")
            out = _check_messages(value, f"{where} {key}", ("assistant",))
            if not isinstance(out[0].get("content"), str):
                raise _Invalid(f"{where}: '{key}' content must be text")
            outputs.extend(out)
        prompt = next(
            (_text_of(m.get("content")) for m in reversed(messages) if m["role"] == "user"), ""
        )
        return list(_texts(messages + outputs)), Example(prompt, str(outputs[0]["content"]))
    if "messages" not in record:
        if "input" in record and "preferred_output" in record:
            raise _Invalid(
                f"Input file {file_id} is in the fine-tune-dpo format, but the specified "
                "fine-tuning job is not using 'dpo' as the training method "
                f"(provided method={method})."
            )
        raise _Invalid(
            "Unexpected file format, expected either prompt/completion pairs or chat messages."
        )
    roles = _RFT_ROLES if method == catalog.REINFORCEMENT else _CHAT_ROLES
    messages = _check_messages(record["messages"], where, roles)
    if method == catalog.SUPERVISED and not any(m["role"] == "assistant" for m in messages):
        raise _Invalid(f"{where} has no assistant message to train on")
    return list(_texts(messages)), _prompt_and_reply(messages)


def _billed_parts(
    record: dict[str, Any], method: str
) -> tuple[list[Any], Any, list[dict[str, Any]]]:
    """The conversation, tools and DPO answers of a checked line, as billing reads them."""
    if method == catalog.DPO:
        source = record["input"]
        outputs = [record["preferred_output"][0], record["non_preferred_output"][0]]
        return source["messages"], source.get("tools"), outputs
    return record["messages"], record.get("tools") or record.get("functions"), []


def inspect_dataset(
    content: bytes, *, method: str, model: str, file_id: str, param: str
) -> DatasetSummary | DatasetProblem:
    """Check a training or validation file the way the job's ``validating_files`` step does."""
    kind = "training" if param == "training_file" else "validation"
    code = f"invalid_{kind}_file"
    prefix = f"The job failed due to an invalid {kind} file. Invalid file format. "
    context = catalog.lookup(model) or catalog.lookup(catalog.DEFAULT_MODEL)
    assert context is not None
    limit = context.context_tokens
    examples: list[Example] = []
    billable = 0
    n = 0
    counter = TokenCounter(model)
    flagged: list[int] = []
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DatasetProblem(
            code, prefix + f"The file is not UTF-8 text (byte {exc.start}).", param
        )
    for line in text.splitlines():
        if not line.strip():
            continue
        n += 1
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return DatasetProblem(code, prefix + f"Line {n} is not valid JSON.", param)
        try:
            texts, example = _parse_line(record, n, method, file_id)
        except _Invalid as exc:
            return DatasetProblem(code, prefix + exc.detail, param)
        special = _special_token(texts)
        if special is not None:
            return DatasetProblem(
                code, prefix + f"Example {n} message contains an invalid token: {special}", param
            )
        if any(MODERATION_MARKER in t for t in texts):
            flagged.append(n)
        if example is not None:
            examples.append(example)
        billable += min(limit, counter.example(*_billed_parts(record, method))[0])
    if param == "training_file" and n < MIN_TRAINING_EXAMPLES:
        return DatasetProblem(
            "invalid_n_examples",
            f"Training file has {n} example(s), but must have at least "
            f"{MIN_TRAINING_EXAMPLES} examples",
            param,
        )
    if flagged:
        shown = ", ".join(str(line) for line in flagged[:MAX_FLAGGED_SHOWN])
        more = " ..." if len(flagged) > MAX_FLAGGED_SHOWN else ""
        return DatasetProblem(
            code,
            f"The job failed due to an invalid {kind} file. {MODERATION_MESSAGE}{shown}{more}",
            param,
        )
    return DatasetSummary(n_examples=n, billable_tokens=billable, examples=tuple(examples))
