"""The contact form's rules: a message reaches support by email (it is not stored), and a
sender is limited per address and per IP, so the form cannot be used to flood support."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage

PER_HOUR_PER_IP = 5
PER_HOUR_PER_EMAIL = 3
WINDOW_S = 3600


class TooMany(Exception):
    """The sender has sent enough for now."""


def _count(name: str) -> int:
    key = f"contact:{name}"
    cache.add(key, 0, WINDOW_S)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, WINDOW_S)
        return 1


def send(*, name: str, email: str, subject: str, message: str, ip: str, to: str = "") -> None:
    """Count the attempt, then email support (`to`: a brand's support mailbox; default
    SUPPORT_EMAIL); TooMany once a sender is over the limit."""
    if (
        _count(f"ip:{ip}") > PER_HOUR_PER_IP
        or _count(f"email:{email.lower()}") > PER_HOUR_PER_EMAIL
    ):
        raise TooMany("You have sent several messages already; please try again in an hour.")
    EmailMessage(
        subject=f"[contact] {subject}",
        body=f"From: {name} <{email}>\n\n{message}\n",
        to=[to or settings.SUPPORT_EMAIL],
        reply_to=[email],
    ).send()
