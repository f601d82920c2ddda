"""Deterministic embeddings: a text's words and character trigrams hashed into a fixed space.

``cosine`` graders compare two texts by the cosine of their embeddings, so
what the emulator must get right is that the cosine orders pairs as a real
model would: identical texts score 1, paraphrases that share words and word
pieces score higher than unrelated texts, and unrelated texts score near 0.
A hashed bag of features does that without any model data. Each feature
(a casefolded word, weight 1, function words included, and each character trigram of the padded
words, weight 1/2) lands on one coordinate with a sign, both taken from a
digest of the model's name and the feature; the vector is then
L2-normalised. Two texts' dot product is then the weighted count of the
features they share, over their lengths, plus collisions of unshared
features whose random signs cancel on average (expected contribution 0, and
small next to a shared feature's once the space has 1,536 coordinates or
more). Trigrams make ``cats`` and ``cat`` close, as subword models do.

Shortening follows the text-embedding-3 models' documented behaviour: an
embedding asked for with ``dimensions = d`` is the full one's first ``d``
coordinates, normalised again. Tokens are counted with cl100k_base, the
tokenizer of every OpenAI embeddings model, and the real limits apply:
8,192 tokens an input, 2,048 inputs and 300,000 tokens a request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import re
import sys
from array import array
from typing import TYPE_CHECKING, Any

from ftd import catalog
from ftd.datasets.tokens import load_encoding
from ftd.emulator.apierrors import bad_request, model_not_found

if TYPE_CHECKING:
    import tiktoken

TRIGRAM_WEIGHT = 0.5
_WORD = re.compile(r"\w+")


def _features(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for word in _WORD.findall(text.casefold()):
        weights["w:" + word] = weights.get("w:" + word, 0.0) + 1.0
        padded = f" {word} "
        for i in range(len(padded) - 2):
            key = "c:" + padded[i : i + 3]
            weights[key] = weights.get(key, 0.0) + TRIGRAM_WEIGHT
    return weights


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        return vector
    return [v / norm for v in vector]


def _hashed(text: str, model: str, size: int) -> list[float]:
    vector = [0.0] * size
    salt = model.encode()[:64]
    for feature, weight in _features(text).items():
        digest = hashlib.blake2b(feature.encode(), digest_size=8, key=salt).digest()
        value = int.from_bytes(digest, "little")
        vector[value % size] += weight if value >> 63 else -weight
    return vector


def embed(text: str, model: str, size: int, dimensions: int | None = None) -> list[float]:
    """The model's embedding of ``text``, unit length (all zeros for no words): ``size``
    coordinates, or the first ``dimensions`` of them normalised again, as text-embedding-3
    shortens (normalising the whole and then the part gives the same as the part alone)."""
    vector = _hashed(text, model, size)
    return _normalised(vector if dimensions is None else vector[:dimensions])


def _base64(vector: array[float]) -> str:
    packed = array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()  # the API's base64 is little-endian float32
    return base64.b64encode(packed.tobytes()).decode()


class EmbeddingEngine:
    """``POST /v1/embeddings`` for every flavour: validation, vectors, usage."""

    def __init__(self) -> None:
        self._encoding: tiktoken.Encoding | None = None

    @property
    def encoding(self) -> tiktoken.Encoding:
        if self._encoding is None:
            self._encoding = load_encoding(catalog.EMBEDDING_ENCODING)
        return self._encoding

    def _texts(self, given: object) -> list[tuple[str, int]]:
        """Each input's text and token count, checked against the real limits."""
        if isinstance(given, str):
            given = [given]
        elif isinstance(given, list) and given and all(_is_token(v) for v in given):
            given = [given]  # one input as token ids
        if not isinstance(given, list) or not given:
            raise bad_request(
                "input must be a non-empty string or a non-empty array of strings or of "
                "token arrays",
                param="input",
            )
        if len(given) > catalog.EMBEDDING_MAX_INPUTS:
            raise bad_request(
                f"input has {len(given)} items; at most {catalog.EMBEDDING_MAX_INPUTS} "
                "inputs are embedded in one request",
                param="input",
            )
        if len({isinstance(item, str) for item in given}) > 1:
            raise bad_request(
                "input must be an array of strings or an array of token arrays, not both",
                param="input",
            )
        found: list[tuple[str, int]] = []
        for index, item in enumerate(given):
            if isinstance(item, str):
                if not item:
                    raise bad_request(f"input[{index}] cannot be an empty string", param="input")
                count = len(self.encoding.encode(item, disallowed_special=()))
                found.append((item, count))
            elif isinstance(item, list) and item and all(_is_token(v) for v in item):
                try:
                    text = self.encoding.decode(item)
                except (KeyError, ValueError):
                    raise bad_request(
                        f"input[{index}] holds token ids unknown to the model's tokenizer",
                        param="input",
                    ) from None
                found.append((text, len(item)))
            else:
                raise bad_request(
                    f"input[{index}] must be a non-empty string or a non-empty array of token ids",
                    param="input",
                )
            if found[-1][1] > catalog.EMBEDDING_MAX_INPUT_TOKENS:
                raise bad_request(
                    f"input[{index}] is {found[-1][1]} tokens; this model's maximum context "
                    f"length is {catalog.EMBEDDING_MAX_INPUT_TOKENS} tokens. Shorten the input.",
                    param="input",
                )
        total = sum(count for _text, count in found)
        if total > catalog.EMBEDDING_MAX_REQUEST_TOKENS:
            raise bad_request(
                f"the inputs total {total} tokens; at most "
                f"{catalog.EMBEDDING_MAX_REQUEST_TOKENS} tokens are embedded in one request",
                param="input",
            )
        return found

    async def answer(self, body: object) -> dict[str, Any]:
        """``create`` off the event loop: 2,048 inputs take seconds of hashing, during
        which the emulator's other routes must keep answering."""
        return await asyncio.to_thread(self.create, body)

    def create(self, body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object")
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise bad_request("you must provide a model parameter", param="model")
        model = catalog.EMBEDDING_MODELS.get(name)
        if model is None:
            raise model_not_found(name)
        encoding_format = body.get("encoding_format", "float")
        if encoding_format not in ("float", "base64"):
            raise bad_request(
                "encoding_format must be 'float' or 'base64'", param="encoding_format"
            )
        size = model.dimensions
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if not model.shortens:
                raise bad_request(
                    "This model does not support specifying dimensions.", param="dimensions"
                )
            if isinstance(dimensions, bool) or not isinstance(dimensions, int):
                raise bad_request("dimensions must be an integer", param="dimensions")
            if not 1 <= dimensions <= model.dimensions:
                raise bad_request(
                    f"dimensions must be between 1 and {model.dimensions} for {name}",
                    param="dimensions",
                )
            size = dimensions
        inputs = self._texts(body.get("input"))
        data: list[dict[str, Any]] = []
        for index, (text, _count) in enumerate(inputs):
            # float32, as the real models' vectors are
            vector = array("f", embed(text, name, model.dimensions, size))
            value: list[float] | str = (
                _base64(vector) if encoding_format == "base64" else vector.tolist()
            )
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(count for _text, count in inputs)
        return {
            "object": "list",
            "data": data,
            "model": name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
