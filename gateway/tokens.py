"""Token counts we compute ourselves, for holds and for streams that end without usage.

Holds need an upper bound: one token per character is above what every mainstream tokenizer
produces for real text (English averages about four characters a token; CJK about one), plus
a fixed overhead per message and per image. Charges that have no upstream usage (a client
that hangs up, a stream the upstream cut) use the ordinary estimate of four characters a
token, rounded up. docs/billing.md states which outcome uses which.
"""

from __future__ import annotations

from gateway.schemas import ChatRequest, EmbeddingsRequest

TOKENS_PER_MESSAGE = 8
HOLD_TOKENS_PER_IMAGE = 2_000
ESTIMATE_TOKENS_PER_IMAGE = 800
DEFAULT_MAX_OUTPUT_TOKENS = 8_192


def prompt_tokens_upper_bound(chat: ChatRequest) -> int:
    return (
        chat.prompt_chars
        + TOKENS_PER_MESSAGE * chat.message_count
        + HOLD_TOKENS_PER_IMAGE * chat.image_count
    )


def prompt_tokens_estimate(chat: ChatRequest) -> int:
    return (
        text_tokens_estimate(chat.prompt_chars)
        + TOKENS_PER_MESSAGE * chat.message_count
        + ESTIMATE_TOKENS_PER_IMAGE * chat.image_count
    )


def text_tokens_estimate(chars: int) -> int:
    return -(-chars // 4)


def embedding_tokens_upper_bound(request: EmbeddingsRequest) -> int:
    return request.input_chars + request.input_token_ids


def embedding_tokens_estimate(request: EmbeddingsRequest) -> int:
    return text_tokens_estimate(request.input_chars) + request.input_token_ids
