"""Shared test set-up: offline tokenizer files, and nothing that reaches the network."""

from __future__ import annotations

import os
from pathlib import Path

_SHARED_TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "tiktoken"

if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_TIKTOKEN.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_TIKTOKEN)

# No test may reach a real provider: any client built without an explicit base
# URL would go to api.openai.com, so point the default somewhere unroutable.
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("FTD_CONFIG", None)
