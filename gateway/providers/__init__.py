"""Upstream adapters: one module per provider protocol, one small interface (base.py)."""

from __future__ import annotations

from gateway.providers.anthropic import AnthropicAdapter
from gateway.providers.ark import ArkAdapter
from gateway.providers.async_task import AsyncTaskAdapter
from gateway.providers.base import Adapter
from gateway.providers.gemini import GeminiAdapter
from gateway.providers.openai import OpenAIAdapter
from gateway.providers.openai_responses import OpenAIResponsesAdapter

_OPENAI = OpenAIAdapter()

# Provider.kind → adapter. The simulator speaks the OpenAI-compatible protocol.
ADAPTERS: dict[str, Adapter] = {
    "openai": _OPENAI,
    "simulator": _OPENAI,
    "openai_responses": OpenAIResponsesAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "ark": ArkAdapter(),
    "async_task": AsyncTaskAdapter(),
}


def adapter_for(kind: str) -> Adapter | None:
    return ADAPTERS.get(kind)
