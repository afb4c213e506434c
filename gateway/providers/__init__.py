"""Upstream adapters: one module per provider protocol, one small interface (base.py)."""

from __future__ import annotations

from gateway.providers.anthropic import AnthropicAdapter
from gateway.providers.base import Adapter
from gateway.providers.gemini import GeminiAdapter
from gateway.providers.openai import OpenAIAdapter

_OPENAI = OpenAIAdapter()

# Provider.kind → adapter. The simulator speaks the OpenAI-compatible protocol.
ADAPTERS: dict[str, Adapter] = {
    "openai": _OPENAI,
    "simulator": _OPENAI,
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}


def adapter_for(kind: str) -> Adapter | None:
    return ADAPTERS.get(kind)
