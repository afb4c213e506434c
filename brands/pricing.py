"""A brand's prices: the operator's, marked up, in whole micro-credits.

Each rate is scaled by (1 + markup) and rounded up, once, at the rate: the charge arithmetic
(catalog/pricing.py) then runs unchanged on the marked-up Price, so a customer is charged
exactly what the brand's price list says, and never less than the operator's price for the
same usage (every marked-up rate is at least the operator's)."""

from __future__ import annotations

from brands.models import BASIS_POINTS
from catalog.models import Price


def mark_up(micros: int, markup_bp: int) -> int:
    """`micros` plus `markup_bp` basis points of it, rounded up to a whole micro-credit."""
    return -(-int(micros) * (BASIS_POINTS + markup_bp) // BASIS_POINTS)


def marked_up(price: Price, markup_bp: int) -> Price:
    """The brand's version of a price row (not saved; same model and effective date)."""
    if markup_bp == 0:
        return price
    return Price(
        id=price.id,
        model_id=price.model_id,
        effective_from=price.effective_from,
        input_micros_per_mtok=mark_up(price.input_micros_per_mtok, markup_bp),
        cached_input_micros_per_mtok=mark_up(price.cached_input_micros_per_mtok, markup_bp),
        output_micros_per_mtok=mark_up(price.output_micros_per_mtok, markup_bp),
        per_request_micros=mark_up(price.per_request_micros, markup_bp),
        image_micros={k: mark_up(v, markup_bp) for k, v in (price.image_micros or {}).items()},
        video_micros_per_second={
            k: mark_up(v, markup_bp) for k, v in (price.video_micros_per_second or {}).items()
        },
        note=price.note,
    )
