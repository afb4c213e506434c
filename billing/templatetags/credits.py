"""One way to show money: `{{ amount_micros|credits }}`."""

from __future__ import annotations

from django import template

register = template.Library()

MICROS_PER_CREDIT = 1_000_000


@register.filter(name="credits")
def credits(micros: int | None, signed: bool = False) -> str:
    """Format micro-credits as credits: whole credits with separators, up to 6 decimals."""
    if micros is None:
        return "—"
    micros = int(micros)
    sign = "-" if micros < 0 else ("+" if signed and micros > 0 else "")
    whole, frac = divmod(abs(micros), MICROS_PER_CREDIT)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:06d}".rstrip("0")
    return sign + text


@register.filter(name="usd")
def usd(micros: int | None) -> str:
    """Micro-credits as US dollars ($1 = 1,000 credits), rounded to the cent for display."""
    if micros is None:
        return "—"
    cents = (int(micros) + 5_000_000) // 10_000_000  # round half up, display only
    return f"${cents // 100:,}.{cents % 100:02d}"
