"""tiktoken's tokens for a little text, without building tiktoken's encoder.

Building tiktoken's encoder takes 0.3-0.5 s here: its rank file parsed into
200,000 entries, then copied into the Rust tables. That was most of what a
10-line ``ftd validate`` took, for a file whose counting takes a millisecond.
Byte-pair encoding itself is small: split the text with the encoding's own
pattern, then merge each piece's adjacent parts lowest rank first, as
tiktoken does (a piece that is itself a token is that token). Done here in
Python over the same hash-checked rank file, it gives the same ids at a
fraction of the start-up cost and several times the cost per byte, so
TokenCounter uses it only until a budget of work is spent, then builds
tiktoken's encoder, which stays the reference: tests/datasets/test_small_bpe.py
compares the two on every code point and on varied texts in CI.
"""

from __future__ import annotations

import binascii
import unicodedata

# Rank lookups a SmallEncoder may make before it declines: about 0.1 s of
# work here, a third of what building tiktoken's encoder costs.
DEFAULT_BUDGET = 150_000
# A piece longer than this (a run of letters or symbols with no space) is
# handed to tiktoken at once: merging it costs the square of its length.
MAX_PIECE_BYTES = 256
# The patterns sort characters by Unicode category, and the two regex engines
# carry their own tables: the regex module's follow the newest Unicode (17 now),
# tiktoken's Rust tables the version of the Rust regex crate it was built with
# (16 in tiktoken 0.14; at least 15.0 in every tiktoken ftd accepts). A
# character assigned after either disagrees (the exhaustive test found the
# 17,500 characters Unicode 17 added). So a text is taken only if each of its
# characters was assigned by Unicode 15.0, by the interpreter's own database
# where that is no newer, else by the 3.2 database every Python carries.
TABLES_AGREE_TO = (15, 0, 0)
_ASSIGNED = (
    unicodedata
    if tuple(int(part) for part in unicodedata.unidata_version.split(".")) <= TABLES_AGREE_TO
    else unicodedata.ucd_3_2_0
)


class SmallEncoder:
    """``encode_ordinary`` for one encoding, until its budget of rank lookups runs out.

    ``encode_ordinary`` answers None for a text holding a character the two
    engines might class differently, and once a text would take it past its
    budget (and from then on): the caller then asks tiktoken.
    """

    def __init__(self, pattern: str, rank_file: bytes, budget: int = DEFAULT_BUDGET) -> None:
        import regex  # tiktoken's own dependency, with the \p{...} classes its patterns use

        self._unassigned = regex.compile(r"\p{Cn}").match
        words = rank_file.split()
        if len(words) % 2:
            raise ValueError("a rank file holds pairs of token and rank")
        # Keyed by the file's own base64 text: no decoding of 200,000 tokens
        # and no parsing of their ranks, only of those looked up.
        self._ranks: dict[bytes, bytes] = dict(zip(words[0::2], words[1::2], strict=True))
        self._split = regex.compile(pattern).findall
        self.budget = budget
        self._known: dict[str, bool] = {}

    def encode_ordinary(self, text: str) -> list[int] | None:
        """tiktoken's ``encode_ordinary(text)``, or None where this encoder declines it.

        Raises UnicodeEncodeError on lone surrogates, as tiktoken's core does.
        """
        if self.budget <= 0 or not (text.isascii() or self._all_known(text)):
            return None
        ranks = self._ranks
        key = binascii.b2a_base64
        ids: list[int] = []
        spent = 0
        budget = self.budget
        for piece in self._split(text):
            raw = piece.encode("utf-8")
            found = ranks.get(key(raw, newline=False))
            spent += 1
            if found is not None:
                ids.append(int(found))
            elif len(raw) > MAX_PIECE_BYTES:
                spent = budget
            else:
                spent += self._merge(raw, ids)
            if spent >= budget:
                self.budget = 0
                return None
        self.budget -= spent
        return ids

    def _all_known(self, text: str) -> bool:
        """Whether both engines' tables surely agree on every character of ``text``."""
        known = self._known
        for char in text:
            verdict = known.get(char)
            if verdict is None:
                verdict = char.isascii() or (
                    _ASSIGNED.category(char) != "Cn" and not self._unassigned(char)
                )
                if len(known) < 65_536:
                    known[char] = verdict
            if not verdict:
                return False
        return True

    def _merge(self, raw: bytes, ids: list[int]) -> int:
        """Append the ids of ``raw``'s merged parts; the rank lookups it made."""
        ranks = self._ranks
        key = binascii.b2a_base64
        parts = [raw[i : i + 1] for i in range(len(raw))]
        # pair[i] is the rank of parts[i] + parts[i + 1], None where no token joins them.
        pair = [
            _rank(ranks, key(parts[i] + parts[i + 1], newline=False)) for i in range(len(parts) - 1)
        ]
        lookups = len(pair)
        while pair:
            best = -1
            lowest = 0
            for i, rank in enumerate(pair):
                if rank is not None and (best < 0 or rank < lowest):
                    best, lowest = i, rank
            if best < 0:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
            del pair[best]
            if best > 0:
                pair[best - 1] = _rank(ranks, key(parts[best - 1] + parts[best], newline=False))
                lookups += 1
            if best < len(pair):
                pair[best] = _rank(ranks, key(parts[best] + parts[best + 1], newline=False))
                lookups += 1
        ids.extend(int(ranks[key(part, newline=False)]) for part in parts)
        return lookups + len(parts)


def _rank(ranks: dict[bytes, bytes], key: bytes) -> int | None:
    found = ranks.get(key)
    return None if found is None else int(found)
