"""``POST /v1/embeddings``: vectors that order texts by likeness, the spec's shapes, the limits."""

from __future__ import annotations

import base64
import json
import math
from array import array
from typing import Any

import openai
import pytest

from ftd.datasets.tokens import load_encoding
from ftd.emulator.server import Emulator
from tests.emulator import azure_schemas, openapi_schemas
from tests.emulator.azure_support import (
    arm_client,
    azure_emulator,
    deployment_body,
    deployment_url,
    v1_client,
)
from tests.emulator.helpers import FakeClock
from tests.emulator.openapi_schemas import OpenApiSchemas

pytestmark = pytest.mark.anyio
SMALL = "text-embedding-3-small"
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset the password of my account?"
UNRELATED = "The train to Lyon leaves at seven from platform four."


def cosine(first: list[float], second: list[float]) -> float:
    dot = sum(a * b for a, b in zip(first, second, strict=True))
    return dot / (math.sqrt(sum(a * a for a in first)) * math.sqrt(sum(b * b for b in second)))


async def raw_embeddings(client: openai.AsyncOpenAI, **body: Any) -> dict[str, Any]:
    body.setdefault("encoding_format", "float")  # the SDK would ask base64
    raw = await client.embeddings.with_raw_response.create(**body)
    answer: dict[str, Any] = json.loads(raw.content)
    return answer


async def refusal(client: openai.AsyncOpenAI, **body: Any) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        await client.embeddings.create(**body)
    return caught.value


@pytest.fixture(scope="module")
def schemas() -> OpenApiSchemas:
    if not openapi_schemas.SPEC_PATH.exists():
        pytest.skip(f"the OpenAPI spec is not at {openapi_schemas.SPEC_PATH}")
    return openapi_schemas.load()


async def test_embeddings_match_the_spec_and_order_texts_by_likeness(
    client: openai.AsyncOpenAI, schemas: OpenApiSchemas
) -> None:
    texts = [QUESTION, PARAPHRASE, UNRELATED, QUESTION]
    answer = await raw_embeddings(client, model=SMALL, input=texts, encoding_format="float")
    schema = schemas.response_schema("POST", "/embeddings")
    assert schemas.errors(schema, answer) == []
    assert answer["model"] == SMALL
    assert [d["index"] for d in answer["data"]] == [0, 1, 2, 3]
    vectors = [d["embedding"] for d in answer["data"]]
    assert {len(v) for v in vectors} == {1536}
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5) for v in vectors)
    same, close, far = (cosine(vectors[0], vectors[i]) for i in (3, 1, 2))
    assert same == pytest.approx(1.0)
    assert close > 0.5 > far
    assert abs(far) < 0.2
    # usage is the inputs' tokens by cl100k_base, every embeddings model's tokenizer
    encoding = load_encoding("cl100k_base")
    tokens = sum(len(encoding.encode(t)) for t in texts)
    assert answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    # the same text gives the same vector in another request
    again = await raw_embeddings(client, model=SMALL, input=QUESTION)
    assert again["data"][0]["embedding"] == vectors[0]
    # token ids embed as the text they spell
    spelled = await raw_embeddings(client, model=SMALL, input=encoding.encode(QUESTION))
    assert spelled["data"][0]["embedding"] == vectors[0]
    assert spelled["usage"]["prompt_tokens"] == len(encoding.encode(QUESTION))


async def test_models_dimensions_and_base64(
    client: openai.AsyncOpenAI, schemas: OpenApiSchemas
) -> None:
    schema = schemas.response_schema("POST", "/embeddings")
    sizes = {}
    for model in ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"):
        answer = await raw_embeddings(client, model=model, input=QUESTION)
        assert schemas.errors(schema, answer) == []
        sizes[model] = len(answer["data"][0]["embedding"])
    assert sizes == {
        "text-embedding-3-small": 1536,
        "text-embedding-3-large": 3072,
        "text-embedding-ada-002": 1536,
    }
    full = (await raw_embeddings(client, model=SMALL, input=QUESTION))["data"][0]["embedding"]
    short = await raw_embeddings(client, model=SMALL, input=QUESTION, dimensions=256)
    assert schemas.errors(schema, short) == []
    vector = short["data"][0]["embedding"]
    assert len(vector) == 256
    # shortened as text-embedding-3 does: the full vector's first coordinates, normalised
    norm = math.sqrt(sum(x * x for x in full[:256]))
    assert vector == pytest.approx([x / norm for x in full[:256]], abs=1e-6)
    packed = await raw_embeddings(client, model=SMALL, input=QUESTION, encoding_format="base64")
    decoded = array("f", base64.b64decode(packed["data"][0]["embedding"]))
    assert decoded.tolist() == full


async def test_bad_requests_are_refused_with_the_real_error_shape(
    client: openai.AsyncOpenAI,
) -> None:
    unknown = await refusal(client, model="text-embedding-9", input="x")
    assert (unknown.status_code, unknown.code) == (404, "model_not_found")
    assert unknown.body == {
        "message": "The model `text-embedding-9` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    chat_model = await refusal(client, model="gpt-4.1-mini-2025-04-14", input="x")
    assert chat_model.status_code == 404
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"model": "text-embedding-ada-002", "dimensions": 8}, "dimensions", "does not support"),
        ({"model": SMALL, "dimensions": 1537}, "dimensions", "between 1 and 1536"),
        ({"model": SMALL, "input": ""}, "input", "empty string"),
        ({"model": SMALL, "input": ["a", ""]}, "input", "input[1] cannot be an empty string"),
        ({"model": SMALL, "input": ["a"] * 2049}, "input", "at most 2048 inputs"),
        ({"model": SMALL, "input": "word " * 8200}, "input", "maximum context length is 8192"),
        ({"model": SMALL, "input": ["word " * 8000] * 38}, "input", "at most 300000 tokens"),
        ({"model": SMALL, "input": [[1, 2], "x"]}, "input", "not both"),
        ({"model": SMALL, "encoding_format": "hex"}, "encoding_format", "'float' or 'base64'"),
    ]
    for body, param, words in cases:
        body.setdefault("input", "x")
        refused = await refusal(client, **body)
        assert refused.status_code == 400, body
        assert refused.body is not None
        assert isinstance(refused.body, dict)
        assert refused.body["param"] == param, body
        assert refused.body["type"] == "invalid_request_error"
        assert words in refused.body["message"], (body, refused.body)


async def test_azure_answers_embeddings_on_a_deployment_of_an_embeddings_model() -> None:
    if not azure_schemas.available():
        pytest.skip("the Azure specs are not present")
    clock = FakeClock()
    async with (
        azure_emulator(clock=clock, deployment_provisioning_seconds=0) as emulator,
        v1_client(emulator) as v1,
        arm_client() as arm,
    ):
        await _deploy(emulator, arm, "embedder", SMALL)
        await _deploy(emulator, arm, "chatter", "gpt-4.1-mini")
        clock.advance(60)  # past the deployments' not-ready spell
        spec = azure_schemas.v1()
        schema = spec.response_schema("POST", "/embeddings")
        for encoding_format in ("float", "base64"):
            answer = await raw_embeddings(
                v1, model="embedder", input=[QUESTION, UNRELATED], encoding_format=encoding_format
            )
            assert spec.errors(schema, answer) == []
            assert answer["model"] == SMALL
        vectors = (await raw_embeddings(v1, model="embedder", input=[QUESTION, PARAPHRASE]))["data"]
        assert cosine(vectors[0]["embedding"], vectors[1]["embedding"]) > 0.5
        errors = spec.response_schema("POST", "/embeddings", "default")
        chat = await refusal(v1, model="chatter", input="x")
        assert (chat.status_code, chat.code) == (400, "OperationNotSupported")
        missing = await refusal(v1, model="absent", input="x")
        assert (missing.status_code, missing.code) == (404, "DeploymentNotFound")
        for refused in (chat, missing):
            assert spec.errors(errors, {"error": refused.body}) == []


async def _deploy(emulator: Emulator, arm: Any, name: str, model: str) -> None:
    put = await arm.call("PUT", deployment_url(emulator, name), deployment_body(model))
    assert put.status in (200, 201), put.body
