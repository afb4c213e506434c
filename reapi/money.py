"""The credit unit, in one place. $1 = 1,000 credits; 1 credit = 1,000,000 micro-credits.

Every app may import this (it depends on nothing). Amounts are ints in micro-credits; the
only Decimal is at the edge where a person types an amount, converted exactly here."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICROS_PER_CREDIT = 1_000_000
CREDITS_PER_USD = 1_000
MICROS_PER_USD = MICROS_PER_CREDIT * CREDITS_PER_USD


class InvalidAmount(ValueError):
    pass


def credits_text(micros: int, *, signed: bool = False, grouping: bool = False) -> str:
    """Exact credits for display or headers: "12.5", "-0.000001", "1,000" with grouping."""
    sign = "-" if micros < 0 else ("+" if signed and micros > 0 else "")
    whole, frac = divmod(abs(int(micros)), MICROS_PER_CREDIT)
    text = f"{whole:,}" if grouping else str(whole)
    if frac:
        text += "." + f"{frac:06d}".rstrip("0")
    return sign + text


def parse_credits(raw: str) -> int:
    """Exact micro-credits for an amount a person typed ("-12.5", "1,000")."""
    text = raw.strip().replace(",", "").replace("_", "")
    try:
        credits = Decimal(text)
    except InvalidOperation:
        raise InvalidAmount("Enter a number of credits, like 500 or 12.5.") from None
    if not credits.is_finite():
        raise InvalidAmount("Enter a finite number.")
    micros = credits * MICROS_PER_CREDIT
    if micros != micros.to_integral_value():
        raise InvalidAmount("Use at most six decimal places.")
    return int(micros)


def usd_to_micros(amount: str) -> int:
    """Exact micro-credits for a dollar amount written as a string ("0.042")."""
    micros = Decimal(amount) * MICROS_PER_USD
    if micros != micros.to_integral_value():
        raise InvalidAmount(f"{amount} USD is not a whole number of micro-credits")
    return int(micros)
