"""What ftd knows about fine-tunable models: tokenizer, training context, methods, prices.

Figures come from OpenAI's fine-tuning guides and pricing page (see README,
"Models and prices"). Prices are defaults: the configuration may override them
because they change more often than code ships.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPERVISED = "supervised"
DPO = "dpo"
REINFORCEMENT = "reinforcement"
METHODS = (SUPERVISED, DPO, REINFORCEMENT)


@dataclass(frozen=True, slots=True)
class BaseModel:
    """One fine-tunable snapshot."""

    name: str
    family: str
    encoding: str
    context_tokens: int  # longest training example; longer ones are truncated
    methods: tuple[str, ...]
    vision: bool
    # USD per 1M training tokens; None where training is billed by the hour (RFT).
    training_price_per_mtok: float | None
    training_price_per_hour: float | None
    input_price_per_mtok: float  # inference with the fine-tuned model
    output_price_per_mtok: float
    shutdown_date: str | None = None  # ISO date when the base stops serving, if announced
    # Methods the provider no longer trains this model with, and since when (ISO date).
    retired_methods: tuple[tuple[str, str], ...] = ()


# OpenAI retires these bases, and every fine-tune built on them, on this day (its
# deprecations page, "Update to OpenAI's self-serve fine-tuning"); its API lists no dates.
RETIRING = "2027-01-14"

# fmt: off
# name, family, encoding, context, methods, vision,
#   training $/1M tokens, training $/hour, inference input $/1M, output $/1M[, shutdown]
BASE_MODELS: tuple[BaseModel, ...] = tuple(BaseModel(*row) for row in (
    ("gpt-4.1-2025-04-14", "gpt-4.1", "o200k_base", 65_536, (SUPERVISED, DPO), True,
     25.00, None, 3.00, 12.00, RETIRING),
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini", "o200k_base", 65_536, (SUPERVISED, DPO), False,
     5.00, None, 0.80, 3.20, RETIRING),
    ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano", "o200k_base", 65_536, (SUPERVISED, DPO), False,
     1.50, None, 0.20, 0.80),
    ("gpt-4o-2024-08-06", "gpt-4o", "o200k_base", 65_536, (SUPERVISED, DPO), True,
     25.00, None, 3.75, 15.00, RETIRING),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "o200k_base", 65_536, (SUPERVISED, DPO), False,
     3.00, None, 0.30, 1.20, RETIRING),
    # OpenAI retired o4-mini fine-tuning (its only method, reinforcement) on 2026-10-23;
    # the method stays listed for what the API once took (the emulator plays it).
    ("o4-mini-2025-04-16", "o4-mini", "o200k_base", 65_536, (REINFORCEMENT,), False,
     None, 100.00, 4.00, 16.00, None, ((REINFORCEMENT, "2026-10-23"),)),
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo", "cl100k_base", 16_385, (SUPERVISED,), False,
     8.00, None, 3.00, 6.00),
    ("gpt-3.5-turbo-1106", "gpt-3.5-turbo", "cl100k_base", 16_385, (SUPERVISED,), False,
     8.00, None, 3.00, 6.00),
    ("gpt-3.5-turbo-0613", "gpt-3.5-turbo", "cl100k_base", 4_096, (SUPERVISED,), False,
     8.00, None, 3.00, 6.00),
    ("gpt-4-0613", "gpt-4", "cl100k_base", 8_192, (SUPERVISED,), False,
     None, None, 30.00, 60.00),
))
# fmt: on

_BY_NAME = {m.name: m for m in BASE_MODELS}
# Family aliases resolve to the current snapshot, as the API does.
_ALIASES = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-4": "gpt-4-0613",
}

DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"
DEFAULT_RFT_MODEL = "o4-mini-2025-04-16"


def shutdown_dates() -> dict[str, str]:
    """Base model (snapshot and family alias) -> the day OpenAI stops serving it."""
    dates = {m.name: m.shutdown_date for m in BASE_MODELS if m.shutdown_date is not None}
    dates.update({alias: dates[name] for alias, name in _ALIASES.items() if name in dates})
    return dates


def retired_since(entry: BaseModel, method: str, today: str) -> str | None:
    """The ISO date from which the provider no longer trains ``entry`` with ``method``."""
    for retired, since in entry.retired_methods:
        if retired == method and since <= today:
            return since
    return None


def retirement_note(entry: BaseModel, method: str, since: str) -> str:
    return (
        f"OpenAI retired {method} fine-tuning of {entry.name} on {since}, and no model in "
        "the catalogue offers it now (a provider that still does, such as an Azure OpenAI "
        "deployment, is asked for it by its own model name)"
    )


def base_name(model: str) -> str:
    """The base snapshot behind a model name.

    ``ft:gpt-4.1-mini-2025-04-14:org:suffix:id`` (and its ``:ckpt-step-N``
    checkpoints) continue training from ``gpt-4.1-mini-2025-04-14``. tiktoken's
    own prefix table maps ``ft:gpt-4.1…`` to cl100k_base, which is wrong, so
    the prefix is stripped here before anything else looks at the name.
    """
    name = model.strip()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return _ALIASES.get(name, name)


def lookup(model: str) -> BaseModel | None:
    """The catalogue entry for a model, base or fine-tuned; None when unknown."""
    name = base_name(model)
    found = _BY_NAME.get(name)
    if found is not None:
        return found
    # Unknown dated snapshot of a known family (e.g. a newer gpt-4.1-mini-2026-…).
    for entry in sorted(BASE_MODELS, key=lambda m: len(m.family), reverse=True):
        if name.startswith(entry.family + "-") and name[len(entry.family) + 1 :][:1].isdigit():
            return entry
    return None


def encoding_name(model: str) -> str:
    """The tiktoken encoding for a model; o200k_base for anything not known to be older."""
    entry = lookup(model)
    if entry is not None:
        return entry.encoding
    name = base_name(model)
    if name.startswith(("gpt-3.5", "gpt-4-", "davinci", "babbage")) or name == "gpt-4":
        return "cl100k_base"
    return "o200k_base"


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """One embeddings model: what ``cosine`` graders ask, and what the emulator plays."""

    name: str
    dimensions: int  # the vector's length when no ``dimensions`` is asked for
    shortens: bool  # takes the ``dimensions`` parameter (text-embedding-3 and later)
    input_price_per_mtok: float  # embeddings bill input tokens only


# OpenAI's embeddings guide and pricing page. Every one reads at most 8,192 tokens an input
# and 2,048 inputs (300,000 tokens in all) a request, tokenised with cl100k_base.
EMBEDDING_MODELS: dict[str, EmbeddingModel] = {
    m.name: m
    for m in (
        EmbeddingModel("text-embedding-3-small", 1536, True, 0.02),
        EmbeddingModel("text-embedding-3-large", 3072, True, 0.13),
        EmbeddingModel("text-embedding-ada-002", 1536, False, 0.10),
    )
}
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
EMBEDDING_ENCODING = "cl100k_base"
EMBEDDING_MAX_INPUT_TOKENS = 8192
EMBEDDING_MAX_INPUTS = 2048
EMBEDDING_MAX_REQUEST_TOKENS = 300_000
