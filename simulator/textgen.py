"""Deterministic text generation and rough token counting.

Every emitted token is one word (the first without a leading space, the rest with one), so
"completion tokens" are exactly the number of chunks a stream carries: tests can check usage
against what they saw without a tokenizer.
"""

from __future__ import annotations

import json
import random
import zlib
from typing import Any

# Common English words; a fixed list keeps generation cheap (no per-request work but a seed).
WORDS: tuple[str, ...] = tuple(
    """
    the of and to in is that it for was on are as with be at by this have from or one had
    not but what all were when we there can an your which their said if do will each about
    how up out them then she many some so these would other into has more her two like him
    see time could no make than first been its who now people my made over did down only way
    find use may water long little very after words called just where most know get through
    back much before go good new write our used me man too any day same right look think
    also around another came come work three word must because does part even place well
    such here take why things help put years different away again off went old number great
    tell men say small every found still between name should home big give air line set own
    under read last never us left end along while might next sound below saw something
    thought both few those always looked show large often together asked house world going
    want school important until form food keep children feet land side without boy once
    animals life enough took sometimes four head above kind began almost live page got earth
    need far hand high year mother light parts country father let night following picture
    being study second eyes soon times story boys since white days ever paper hard near
    sentence better best across during today others however sure means knew try told young
    miles sun ways thing whole hear example heard several change answer room sea against top
    turned learn point city play toward five using himself usually
    """.split()
)
_SPACED: tuple[str, ...] = tuple(" " + w for w in WORDS)
_CAPITALIZED: tuple[str, ...] = tuple(w.capitalize() for w in WORDS)
_N_WORDS = len(WORDS)


def seed_for(model: str, payload: Any) -> int:
    """Stable seed from the model and the prompt, so the same request gives the same text."""
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return zlib.crc32(raw.encode(), zlib.crc32(model.encode()))


def generate_tokens(seed: int, count: int, *, final_period: bool = True) -> list[str]:
    """`count` word tokens; joined they read as one sentence (period only if it is complete)."""
    if count <= 0:
        return []
    rng = random.Random(seed)
    picks = [int(rng.random() * _N_WORDS) for _ in range(count)]
    tokens = [_CAPITALIZED[picks[0]]]
    tokens.extend(_SPACED[i] for i in picks[1:])
    if final_period:
        tokens[-1] += "."
    return tokens


def estimate_tokens(text: str) -> int:
    """Roughly four characters per token, like the usual rule of thumb (never 0 for text)."""
    return (len(text) + 3) // 4
