"""Price arithmetic in integer micro-credits.

Rounding happens once per charge: the actual cost is rounded down (in the customer's favour),
the worst-case hold is rounded up (so a hold always covers the charge it precedes).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

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
    """A worked example of a price: what it buys (in the active language) and what that costs
    (micro-credits). `kind` says which part of the price it shows, whatever the language:
    "input", "cached", "output", "request", "image" or "video"."""

    what: str
    micros: int
    kind: str


VIDEO_EXAMPLE_SECONDS = 5

# Image qualities providers use, translated for the examples; any other value is shown as is.
IMAGE_QUALITIES = {
    "low": pgettext_lazy("image quality", "low"),
    "medium": pgettext_lazy("image quality", "medium"),
    "high": pgettext_lazy("image quality", "high"),
    "standard": pgettext_lazy("image quality", "standard"),
    "hd": pgettext_lazy("image quality", "hd"),
    "auto": pgettext_lazy("image quality", "auto"),
}


def _image_label(size: str, quality: str) -> str:
    values = {"size": size.replace("x", "×"), "quality": str(IMAGE_QUALITIES.get(quality, quality))}
    if quality in ("", "*"):
        return _("an image") if size == "*" else _("a %(size)s image") % values
    if size == "*":
        return _("an image at %(quality)s quality") % values
    # Translators: a price example, e.g. "a 1024×1024 image at high quality".
    return _("a %(size)s image at %(quality)s quality") % values


def _video_label(resolution: str, kind: str) -> str:
    values = {"seconds": VIDEO_EXAMPLE_SECONDS, "resolution": resolution}
    if kind == "tool":  # a video tool (e.g. upscaling): priced per second of input video
        if resolution == "*":
            return _("a %(seconds)s s of video worked on") % values
        return _("a %(seconds)s s %(resolution)s of video worked on") % values
    if resolution == "*":
        return _("a %(seconds)s s video") % values
    # Translators: a price example, e.g. "a 5 s 720p video" (5 seconds of 720p video).
    return _("a %(seconds)s s %(resolution)s video") % values


def examples(price: Price, kind: str) -> list[Example]:
    """Worked examples for a model page, computed by the same arithmetic as the charge, labelled
    in the active language."""
    found: list[Example] = []
    if price.input_micros_per_mtok or price.output_micros_per_mtok:
        per_thousand = [
            ("input", _("1,000 input tokens"),
             TokenUsage(input_tokens=1_000, output_tokens=0)),
            ("cached", _("1,000 cached input tokens"),
             TokenUsage(input_tokens=1_000, output_tokens=0, cached_input_tokens=1_000)),
            ("output", _("1,000 output tokens"),
             TokenUsage(input_tokens=0, output_tokens=1_000)),
        ]  # fmt: skip
        rates = (price.input_micros_per_mtok, price.cached_input_micros_per_mtok,
                 price.output_micros_per_mtok)  # fmt: skip
        for (part, label, usage), rate in zip(per_thousand, rates, strict=True):
            if not rate:
                continue
            cost = token_cost_micros(price, usage) - price.per_request_micros
            found.append(Example(label, cost, part))
    if price.per_request_micros:
        found.append(Example(_("each request"), price.per_request_micros, "request"))
    for key, micros in sorted((price.image_micros or {}).items()):
        size, _sep, quality = key.partition(":")
        found.append(Example(_image_label(size, quality), int(micros), "image"))
    for resolution, micros in sorted((price.video_micros_per_second or {}).items()):
        found.append(Example(_video_label(resolution, kind),
                             VIDEO_EXAMPLE_SECONDS * int(micros), "video"))  # fmt: skip
    return found
