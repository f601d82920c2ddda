"""Shared test data: small datasets in each training format, and a clock tests can move."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob
from openai.types.graders.string_check_grader_param import StringCheckGraderParam

from ftd.emulator import timeline


class FakeClock:
    """Wall time that moves only when told to, so job progress is exact."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def chat_example(
    question: str, answer: str, system: str = "You are a helpful agent."
) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def chat_dataset(n: int) -> bytes:
    return jsonl(
        [chat_example(f"What is {i} plus {i}?", f"{i} plus {i} is {2 * i}.") for i in range(n)]
    )


def dpo_dataset(n: int) -> bytes:
    records = [
        {
            "input": {"messages": [{"role": "user", "content": f"Say hello to person {i}"}]},
            "preferred_output": [{"role": "assistant", "content": f"Hello, person {i}!"}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(n)
    ]
    return jsonl(records)


def rft_dataset(n: int) -> bytes:
    records = [
        {"messages": [{"role": "user", "content": f"Compute {i}*3"}], "answer": str(i * 3)}
        for i in range(n)
    ]
    return jsonl(records)


STRING_CHECK_GRADER: StringCheckGraderParam = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}

_INTENTS = {
    "refund": (
        "I want a refund for order {n}, the {item} arrived broken.",
        "I'm sorry the {item} from order {n} arrived damaged. I have issued a full refund to "
        "your original payment method; it will appear within 5 business days.",
    ),
    "shipping": (
        "Where is my order {n}? The {item} has not arrived yet.",
        "Your order {n} with the {item} is in transit with the carrier. You can track it with "
        "the link in your confirmation email; delivery is expected within 3 days.",
    ),
    "password": (
        "I cannot log in, how do I reset my password? I bought a {item} with order {n}.",
        "To reset your password, click 'Forgot password' on the sign-in page and follow the "
        "link we email you. The link expires after 30 minutes.",
    ),
    "cancel": (
        "Please cancel order {n}, I no longer need the {item}.",
        "Order {n} for the {item} has been cancelled. You will not be charged, and any "
        "pending authorisation will be released by your bank.",
    ),
    "invoice": (
        "Can I get an invoice for order {n}? It was a {item}.",
        "Your invoice for order {n} ({item}) is available under Account > Orders. You can "
        "download it as a PDF at any time.",
    ),
}
_ITEMS = ("lamp", "kettle", "backpack", "monitor", "chair", "blender", "jacket", "camera")


def support_examples(n: int) -> list[tuple[str, str]]:
    """Customer-support questions and templated replies across a handful of intents."""
    intents = list(_INTENTS.values())
    pairs = []
    for i in range(n):
        question, answer = intents[i % len(intents)]
        fill = {"n": 1000 + i, "item": _ITEMS[(i * 3) % len(_ITEMS)]}
        pairs.append((question.format(**fill), answer.format(**fill)))
    return pairs


async def upload(client: openai.AsyncOpenAI, content: bytes, name: str = "train.jsonl") -> str:
    created = await client.files.create(
        file=(name, content, "application/jsonl"), purpose="fine-tune"
    )
    return created.id


async def finish(client: openai.AsyncOpenAI, clock: FakeClock, job_id: str) -> FineTuningJob:
    """Advance the clock until the job is terminal (a fake clock makes this instant)."""
    for _ in range(200):
        job = await client.fine_tuning.jobs.retrieve(job_id)
        if job.status in timeline.TERMINAL:
            return job
        clock.advance(5.0)
    raise AssertionError(f"job {job_id} did not finish; last status {job.status}")
