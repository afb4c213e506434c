"""Upstream adapters: one module per provider protocol, one small interface (base.py)."""

from __future__ import annotations

from gateway.providers.base import ChatAdapter
from gateway.providers.openai import OpenAIChatAdapter

_OPENAI = OpenAIChatAdapter()

# Provider.kind → adapter. The simulator speaks the OpenAI-compatible protocol.
CHAT_ADAPTERS: dict[str, ChatAdapter] = {
    "openai": _OPENAI,
    "simulator": _OPENAI,
}


def chat_adapter(kind: str) -> ChatAdapter | None:
    return CHAT_ADAPTERS.get(kind)
