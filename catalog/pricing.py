"""Price arithmetic in integer micro-credits.

Rounding happens once per charge: the actual cost is rounded down (in the customer's favour),
the worst-case hold is rounded up (so a hold always covers the charge it precedes).
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.models import Price

TOKENS_PER_MTOK = 1_000_000


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0  # a subset of input_tokens


def token_cost_micros(price: Price, usage: TokenUsage) -> int:
    """What a request with this usage costs, rounded down to whole micro-credits."""
    cached = min(max(usage.cached_input_tokens, 0), max(usage.input_tokens, 0))
    fresh = max(usage.input_tokens, 0) - cached
    numerator = (
        fresh * price.input_micros_per_mtok
        + cached * price.cached_input_micros_per_mtok
        + max(usage.output_tokens, 0) * price.output_micros_per_mtok
    )
    return price.per_request_micros + numerator // TOKENS_PER_MTOK


def token_hold_micros(price: Price, *, input_tokens: int, max_output_tokens: int) -> int:
    """The worst case for a request: every input token uncached, every output token used."""
    numerator = (
        input_tokens * price.input_micros_per_mtok
        + max_output_tokens * price.output_micros_per_mtok
    )
    return price.per_request_micros + -(-numerator // TOKENS_PER_MTOK)


def price_json(price: Price) -> dict[str, object]:
    """A price as the API shows it (micro-credits; 1 credit = 1,000,000)."""
    return {
        "effective_from": price.effective_from.isoformat(),
        "input_micros_per_mtok": price.input_micros_per_mtok,
        "cached_input_micros_per_mtok": price.cached_input_micros_per_mtok,
        "output_micros_per_mtok": price.output_micros_per_mtok,
        "per_request_micros": price.per_request_micros,
        "image_micros": dict(price.image_micros or {}),
        "video_micros_per_second": dict(price.video_micros_per_second or {}),
    }


@dataclass(frozen=True)
class Example:
    """A worked example of a price: what it buys and what that costs (micro-credits)."""

    what: str
    micros: int


VIDEO_EXAMPLE_SECONDS = 5


def examples(price: Price, kind: str) -> list[Example]:
    """Worked examples for a model page, computed by the same arithmetic as the charge."""
    found: list[Example] = []
    if price.input_micros_per_mtok or price.output_micros_per_mtok:
        per_thousand = [
            ("1,000 input tokens", TokenUsage(input_tokens=1_000, output_tokens=0)),
            ("1,000 cached input tokens",
             TokenUsage(input_tokens=1_000, output_tokens=0, cached_input_tokens=1_000)),
            ("1,000 output tokens", TokenUsage(input_tokens=0, output_tokens=1_000)),
        ]  # fmt: skip
        rates = (price.input_micros_per_mtok, price.cached_input_micros_per_mtok,
                 price.output_micros_per_mtok)  # fmt: skip
        for (what, usage), rate in zip(per_thousand, rates, strict=True):
            if not rate:
                continue
            cost = token_cost_micros(price, usage) - price.per_request_micros
            found.append(Example(what, cost))
    if price.per_request_micros:
        found.append(Example("each request", price.per_request_micros))
    for key, micros in sorted((price.image_micros or {}).items()):
        size, _, quality = key.partition(":")
        what = "an image" if size == "*" else f"a {size.replace('x', '×')} image"
        if quality not in ("", "*"):
            what += f" at {quality} quality"
        found.append(Example(what, int(micros)))
    for resolution, micros in sorted((price.video_micros_per_second or {}).items()):
        label = "" if resolution == "*" else f" {resolution}"
        noun = "of video worked on" if kind == "tool" else "video"
        found.append(Example(f"a {VIDEO_EXAMPLE_SECONDS} s{label} {noun}",
                             VIDEO_EXAMPLE_SECONDS * int(micros)))  # fmt: skip
    return found
