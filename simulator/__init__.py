"""reAPI's bundled upstream simulator: a standalone aiohttp server that imitates AI providers
(OpenAI Chat Completions and Embeddings, Anthropic Messages) with scriptable faults.

No Django here: the gateway reaches it over real HTTP. Start it with `python -m simulator` or,
from tests, with `simulator.testing.start_simulator()`.
"""
