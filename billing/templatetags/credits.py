"""One way to show money: `{{ amount_micros|credits }}`."""

from __future__ import annotations

from django import template

from reapi.money import credits_text

register = template.Library()


@register.filter(name="credits")
def credits(micros: int | None, signed: bool = False) -> str:
    """Format micro-credits as credits: whole credits with separators, up to 6 decimals."""
    if micros is None:
        return "—"
    return credits_text(int(micros), signed=signed, grouping=True)


@register.filter(name="usd")
def usd(micros: int | None) -> str:
    """Micro-credits as US dollars ($1 = 1,000 credits), rounded to the cent for display."""
    if micros is None:
        return "—"
    cents = (int(micros) + 5_000_000) // 10_000_000  # round half up, display only
    return f"${cents // 100:,}.{cents % 100:02d}"


ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof", "pyg", "rwf", "bif"}


@register.filter(name="money")
def money(amount: int | None, currency: str | None = "usd") -> str:
    """An amount in a currency's smallest unit (Stripe's), e.g. 1999 usd → "$19.99 USD"."""
    if amount is None:
        return "—"
    code = (currency or "usd").lower()
    amount = int(amount)
    if code in ZERO_DECIMAL:
        return f"{amount:,} {code.upper()}"
    sign = "$" if code == "usd" else ""
    return f"{sign}{amount // 100:,}.{amount % 100:02d} {code.upper()}"
