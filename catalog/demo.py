"""The demo catalog: the seeds' image, video and tool models plus a few chat and embedding
models, with plausible prices, routes to the bundled simulator, and disabled routes to the
real providers (enable them in admin once the provider's secret is set).

Prices are written in US dollars here for readability and converted once, exactly, to
micro-credits ($1 = 1,000 credits = 1,000,000,000 micro-credits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction

from catalog.models import Model, Price, Provider, Route
from gateway.providers.async_task import PRESETS
from reapi.money import usd_to_micros as usd

DEMO_PRICES_FROM = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DemoModel:
    slug: str
    name: str
    kind: str
    owned_by: str
    description: str
    real_provider: str | None
    upstream_model: str
    input_per_mtok: str = "0"
    cached_per_mtok: str = "0"
    output_per_mtok: str = "0"
    per_image: dict[str, str] = field(default_factory=dict)
    per_second: dict[str, str] = field(default_factory=dict)
    context_window: int | None = None
    max_output_tokens: int | None = None
    max_video_seconds: int | None = None
    max_images: int | None = None
    # Which simulator provider serves it first: its own protocol where the simulator speaks
    # it (Gemini, Ark), so `make run` exercises those adapters; "simulator" answers after.
    sim: str = "simulator"


# The simulator's Gemini and Ark protocols want a key, as the real ones do.
SIMULATOR_KEY = "sim-demo-key"

PROVIDERS = [
    # slug, name, kind, base URL (None = the bundled simulator), enabled
    ("simulator", "Simulator A", Provider.Kind.SIMULATOR, "/v1", True),
    ("simulator-b", "Simulator B (failover)", Provider.Kind.SIMULATOR, "/s/b/v1", True),
    ("simulator-gemini", "Simulator (Gemini protocol)", Provider.Kind.GEMINI, "/", True),
    ("simulator-ark", "Simulator (Ark protocol)", Provider.Kind.ARK, "/api/v3", True),
    ("openai", "OpenAI", Provider.Kind.OPENAI, "https://api.openai.com/v1", False),
    ("anthropic", "Anthropic", Provider.Kind.ANTHROPIC, "https://api.anthropic.com", False),
    (
        "google",
        "Google Gemini",
        Provider.Kind.GEMINI,
        "https://generativelanguage.googleapis.com",
        False,
    ),
    (
        "ark",
        "BytePlus ModelArk",
        Provider.Kind.ARK,
        "https://ark.ap-southeast.bytepluses.com/api/v3",
        False,
    ),
    (
        "xai-video",
        "xAI Grok Imagine (videos)",
        Provider.Kind.ASYNC_TASK,
        "https://api.x.ai/v1",
        False,
    ),
    ("vidu", "Vidu", Provider.Kind.ASYNC_TASK, "https://api.vidu.com", False),
]
# Described task APIs (gateway/providers/async_task.py) take their shape from options.
PROVIDER_OPTIONS = {"xai-video": PRESETS["grok-imagine"], "vidu": PRESETS["vidu"]}

CHAT = Model.Kind.CHAT
IMAGE = Model.Kind.IMAGE
VIDEO = Model.Kind.VIDEO
EMBED = Model.Kind.EMBEDDING
TOOL = Model.Kind.TOOL

MODELS = [
    # Images
    DemoModel(
        "gpt-image-2",
        "GPT Image 2",
        IMAGE,
        "openai",
        "OpenAI's image model: strong text rendering and instruction following.",
        "openai",
        "gpt-image-2",
        per_image={
            "1024x1024:low": "0.011",
            "1024x1024:medium": "0.042",
            "1024x1024:high": "0.167",
            "1024x1536:*": "0.063",
            "1536x1024:*": "0.063",
            "*:*": "0.042",
        },
        max_images=4,
    ),
    DemoModel(
        "gemini-3-pro-image",
        "Gemini 3 Pro Image",
        IMAGE,
        "google",
        "Google's high-fidelity image generation and editing model.",
        "google",
        "gemini-3-pro-image-preview",
        per_image={"4096x4096:*": "0.24", "*:*": "0.134"},
        max_images=4,
        sim="simulator-gemini",
    ),
    DemoModel(
        "gemini-3.1-flash-image",
        "Gemini 3.1 Flash Image",
        IMAGE,
        "google",
        "Fast, low-cost image generation from Google.",
        "google",
        "gemini-3.1-flash-image-preview",
        per_image={"*:*": "0.067"},
        max_images=4,
        sim="simulator-gemini",
    ),
    DemoModel(
        "gemini-2.5-flash-image",
        "Gemini 2.5 Flash Image",
        IMAGE,
        "google",
        "Google's image model known as Nano Banana.",
        "google",
        "gemini-2.5-flash-image",
        per_image={"*:*": "0.039"},
        max_images=4,
        sim="simulator-gemini",
    ),
    DemoModel(
        "seedream-5.0-lite",
        "Seedream 5.0 Lite",
        IMAGE,
        "bytedance",
        "ByteDance's fast text-to-image and image editing model.",
        "ark",
        "seedream-5-0-lite",
        per_image={"*:*": "0.035"},
        max_images=4,
        sim="simulator-ark",
    ),
    # Video
    DemoModel(
        "seedance-2.0",
        "Seedance 2.0",
        VIDEO,
        "bytedance",
        "ByteDance's cinematic text-to-video and image-to-video model.",
        "ark",
        "seedance-2-0",
        per_second={"480p": "0.05", "720p": "0.10", "1080p": "0.20"},
        max_video_seconds=12,
        sim="simulator-ark",
    ),
    DemoModel(
        "happy-horse-1.0",
        "Happy Horse 1.0",
        VIDEO,
        "happyhorse",
        "Stylised short video generation.",
        None,
        "happy-horse-1.0",
        per_second={"720p": "0.08", "1080p": "0.14"},
        max_video_seconds=10,
    ),
    DemoModel(
        "vidu-q3",
        "Vidu Q3",
        VIDEO,
        "vidu",
        "Vidu's video model with strong motion consistency.",
        "vidu",
        "viduq3",
        per_second={"720p": "0.09", "1080p": "0.15"},
        max_video_seconds=16,
    ),
    DemoModel(
        "grok-imagine-1.0",
        "Grok Imagine 1.0",
        VIDEO,
        "xai",
        "xAI's video generation model with audio.",
        "xai-video",
        "grok-imagine-video",
        per_second={"720p": "0.07", "*": "0.07"},
        max_video_seconds=15,
    ),
    DemoModel(
        "veo-3.1",
        "VEO 3.1",
        VIDEO,
        "google",
        "Google's video model with native audio.",
        "google",
        "veo-3.1-generate-preview",
        per_second={"720p": "0.40", "1080p": "0.40"},
        max_video_seconds=8,
        sim="simulator-gemini",
    ),
    # Tools
    DemoModel(
        "enhance-video-1.0",
        "Enhance Video 1.0",
        TOOL,
        "reapi",
        "Upscales and denoises a video you provide, priced per second of output.",
        None,
        "enhance-video-1.0",
        per_second={"720p": "0.02", "1080p": "0.04", "4k": "0.08"},
        max_video_seconds=60,
    ),
    # Chat
    DemoModel(
        "gpt-5.1",
        "GPT-5.1",
        CHAT,
        "openai",
        "OpenAI's flagship model for coding and agents.",
        "openai",
        "gpt-5.1",
        "1.25",
        "0.125",
        "10",
        context_window=400_000,
        max_output_tokens=128_000,
    ),
    DemoModel(
        "gpt-5-mini",
        "GPT-5 mini",
        CHAT,
        "openai",
        "A faster, cheaper GPT-5.",
        "openai",
        "gpt-5-mini",
        "0.25",
        "0.025",
        "2",
        context_window=400_000,
        max_output_tokens=128_000,
    ),
    DemoModel(
        "claude-sonnet-4.5",
        "Claude Sonnet 4.5",
        CHAT,
        "anthropic",
        "Anthropic's model for complex agents and coding.",
        "anthropic",
        "claude-sonnet-4-5",
        "3",
        "0.30",
        "15",
        context_window=200_000,
        max_output_tokens=64_000,
    ),
    DemoModel(
        "claude-haiku-4.5",
        "Claude Haiku 4.5",
        CHAT,
        "anthropic",
        "Anthropic's fastest model.",
        "anthropic",
        "claude-haiku-4-5",
        "1",
        "0.10",
        "5",
        context_window=200_000,
        max_output_tokens=64_000,
    ),
    DemoModel(
        "gemini-2.5-pro",
        "Gemini 2.5 Pro",
        CHAT,
        "google",
        "Google's reasoning model for hard problems.",
        "google",
        "gemini-2.5-pro",
        "1.25",
        "0.3125",
        "10",
        context_window=1_048_576,
        max_output_tokens=65_536,
    ),
    DemoModel(
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        CHAT,
        "google",
        "Google's fast, low-cost model.",
        "google",
        "gemini-2.5-flash",
        "0.30",
        "0.075",
        "2.50",
        context_window=1_048_576,
        max_output_tokens=65_536,
    ),
    # Embeddings
    DemoModel(
        "text-embedding-3-small",
        "Text Embedding 3 Small",
        EMBED,
        "openai",
        "Small, efficient embeddings.",
        "openai",
        "text-embedding-3-small",
        "0.02",
        context_window=8191,
    ),
    DemoModel(
        "text-embedding-3-large",
        "Text Embedding 3 Large",
        EMBED,
        "openai",
        "OpenAI's most capable embedding model.",
        "openai",
        "text-embedding-3-large",
        "0.13",
        context_window=8191,
    ),
]


def _provider_url(base: str) -> str:
    return settings.SIMULATOR_URL + base if base.startswith("/") else base


@transaction.atomic
def load_demo_catalog(*, update: bool = False) -> dict[str, int]:
    """Create the demo catalog. Safe to run again: existing rows are left as staff set them,
    except the simulator's base URL, which follows SIMULATOR_URL; `update=True` also
    rewrites models and prices to the values above."""
    counts = {"providers": 0, "models": 0, "routes": 0, "prices": 0}
    providers: dict[str, Provider] = {}
    for slug, name, kind, base, enabled in PROVIDERS:
        provider, created = Provider.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "kind": kind,
                "base_url": _provider_url(base),
                "enabled": enabled,
                "api_key": SIMULATOR_KEY if slug.startswith("simulator-") else "",
                "options": PROVIDER_OPTIONS.get(slug, {}),
            },
        )
        if slug.startswith("simulator") and provider.base_url != _provider_url(base):
            provider.base_url = _provider_url(base)
            provider.save(update_fields=["base_url"])
        providers[slug] = provider
        counts["providers"] += created

    for order, demo in enumerate(MODELS):
        values = {
            "display_name": demo.name,
            "kind": demo.kind,
            "owned_by": demo.owned_by,
            "description": demo.description,
            "context_window": demo.context_window,
            "max_output_tokens": demo.max_output_tokens,
            "max_video_seconds": demo.max_video_seconds,
            "max_images": demo.max_images,
            "sort_order": order,
        }
        if update:
            model, created = Model.objects.update_or_create(slug=demo.slug, defaults=values)
        else:
            model, created = Model.objects.get_or_create(slug=demo.slug, defaults=values)
        counts["models"] += created

        routes = [(demo.sim, 0, True)]
        if demo.sim != "simulator":
            routes.append(("simulator", 1, True))
        if demo.kind == CHAT:
            routes.append(("simulator-b", 1, True))
        if demo.real_provider:
            routes.append((demo.real_provider, 10, False))
        for provider_slug, priority, enabled in routes:
            _, created = Route.objects.get_or_create(
                model=model,
                provider=providers[provider_slug],
                upstream_model=demo.upstream_model,
                defaults={"priority": priority, "enabled": enabled},
            )
            counts["routes"] += created

        price_values = {
            "input_micros_per_mtok": usd(demo.input_per_mtok),
            "cached_input_micros_per_mtok": usd(demo.cached_per_mtok),
            "output_micros_per_mtok": usd(demo.output_per_mtok),
            "image_micros": {k: usd(v) for k, v in demo.per_image.items()},
            "video_micros_per_second": {k: usd(v) for k, v in demo.per_second.items()},
            "note": "Demo price list",
        }
        if update:
            _, created = Price.objects.update_or_create(
                model=model, effective_from=DEMO_PRICES_FROM, defaults=price_values
            )
        else:
            _, created = Price.objects.get_or_create(
                model=model, effective_from=DEMO_PRICES_FROM, defaults=price_values
            )
        counts["prices"] += created
    return counts
