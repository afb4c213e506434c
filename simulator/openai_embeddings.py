"""OpenAI Embeddings: `POST /v1/embeddings`.

Vectors are deterministic and cheap: the little-endian int32s of a SHAKE-256 digest of
(model, input), scaled to unit length and rounded to float32. So:

* the same model and input give the same vector in every run and process;
* `encoding_format=float` carries exactly the float32 values whose little-endian bytes
  `encoding_format=base64` carries (as OpenAI does), so both decode to the same list;
* a smaller `dimensions` gives the (re-normalised) prefix of a larger one, like the
  text-embedding-3 models' shortening (SHAKE is an extendable-output hash);
* token-id inputs are hashed as token ids: `[1, 2]` never equals the text "1,2".

`dimensions` defaults to 256 whatever the model (not OpenAI's 1536/3072): small vectors keep
the simulator and the tests fast. Adapters must not rely on a model's real default size.

Usage counts like the chat module: ceil(chars / 4) per text input, the length of each
token-id input.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator.endpoint import Call, Endpoint
from simulator.faults import ErrorInfo, find_directive
from simulator.jsonshape import is_int as _is_int
from simulator.jsonshape import json_type as _json_type
from simulator.openai_common import json_response, render_error
from simulator.textgen import estimate_tokens

DEFAULT_DIMENSIONS = 256  # OpenAI's defaults are 1536 / 3072; small is faster here
MAX_DIMENSIONS = 3072  # text-embedding-3-large's full size
MAX_INPUTS = 2048  # items in one `input` array
MAX_INPUT_TOKENS = 8192  # per input
MAX_REQUEST_TOKENS = 300_000  # summed over all inputs of a request
# Models that predate `dimensions` reject it (as OpenAI does for ada-002).
FIXED_DIMENSION_MODELS = frozenset({"text-embedding-ada-002"})
ENCODINGS = ("float", "base64")

EmbeddingInput = str | list[int]


class InvalidRequest(Exception):
    def __init__(self, message: str, *, param: str | None, code: str | None = None):
        super().__init__(message)
        self.info = ErrorInfo(400, message, code=code, param=param)


@dataclass(frozen=True, slots=True)
class EmbeddingParams:
    model: str
    inputs: list[EmbeddingInput]
    encoding_format: str
    dimensions: int


def _token_ids(value: list[Any], param: str) -> list[int]:
    if not value:
        raise InvalidRequest(
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param=param,
            code="empty_array",
        )
    for j, token in enumerate(value):
        if not _is_int(token) or token < 0:
            raise InvalidRequest(
                f"Invalid '{param}[{j}]': expected a non-negative integer token id, "
                f"but got {token!r} instead.",
                param=f"{param}[{j}]",
                code="invalid_type",
            )
    return value


def _parse_inputs(value: Any) -> list[EmbeddingInput]:
    """The four shapes OpenAI accepts: "text", ["a", "b"], [1, 2], [[1, 2], [3]]."""
    if value is None:
        raise InvalidRequest(
            "Missing required parameter: 'input'.",
            param="input",
            code="missing_required_parameter",
        )
    if isinstance(value, str):
        if not value:
            raise InvalidRequest(
                "Invalid 'input': empty string. Expected a non-empty string.",
                param="input",
                code="invalid_value",
            )
        return [value]
    if not isinstance(value, list):
        raise InvalidRequest(
            f"Invalid type for 'input': expected a string or an array, "
            f"but got {_json_type(value)} instead.",
            param="input",
            code="invalid_type",
        )
    if not value:
        raise InvalidRequest(
            "Invalid 'input': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="input",
            code="empty_array",
        )
    first = value[0]
    if _is_int(first):  # one input given as token ids
        return [_token_ids(value, "input")]
    if len(value) > MAX_INPUTS:
        raise InvalidRequest(
            f"Invalid 'input': array too long. Expected an array with maximum length "
            f"{MAX_INPUTS}, but got an array with length {len(value)} instead.",
            param="input",
            code="array_above_max_length",
        )
    inputs: list[EmbeddingInput] = []
    if isinstance(first, str):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidRequest(
                    f"Invalid type for 'input[{i}]': expected a string (like the other "
                    f"items), but got {_json_type(item)} instead.",
                    param=f"input[{i}]",
                    code="invalid_type",
                )
            if not item:
                raise InvalidRequest(
                    f"Invalid 'input[{i}]': empty string. Expected a non-empty string.",
                    param=f"input[{i}]",
                    code="invalid_value",
                )
            inputs.append(item)
        return inputs
    if isinstance(first, list):
        for i, item in enumerate(value):
            if not isinstance(item, list):
                raise InvalidRequest(
                    f"Invalid type for 'input[{i}]': expected an array of token ids (like "
                    f"the other items), but got {_json_type(item)} instead.",
                    param=f"input[{i}]",
                    code="invalid_type",
                )
            inputs.append(_token_ids(item, f"input[{i}]"))
        return inputs
    raise InvalidRequest(
        f"Invalid type for 'input[0]': expected a string, a token id or an array of token "
        f"ids, but got {_json_type(first)} instead.",
        param="input[0]",
        code="invalid_type",
    )


def parse_request(body: Any) -> EmbeddingParams:
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {_json_type(body)}.",
            param=None,
            code="invalid_type",
        )
    model = body.get("model")
    if model is None:
        raise InvalidRequest(
            "you must provide a model parameter", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            f"Invalid type for 'model': expected a non-empty string, got {_json_type(model)}.",
            param="model",
            code="invalid_type",
        )
    inputs = _parse_inputs(body.get("input"))

    encoding_format = body.get("encoding_format")
    if encoding_format is None:
        encoding_format = "float"
    elif encoding_format not in ENCODINGS:
        raise InvalidRequest(
            f"Invalid value: {encoding_format!r}. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )

    dimensions = body.get("dimensions")
    if dimensions is None:
        dimensions = DEFAULT_DIMENSIONS
    else:
        if not _is_int(dimensions):
            raise InvalidRequest(
                f"Invalid type for 'dimensions': expected an integer, "
                f"but got {_json_type(dimensions)} instead.",
                param="dimensions",
                code="invalid_type",
            )
        if model in FIXED_DIMENSION_MODELS:
            raise InvalidRequest(
                "This model does not support specifying dimensions.",
                param="dimensions",
                code="invalid_value",
            )
        if not 1 <= dimensions <= MAX_DIMENSIONS:
            raise InvalidRequest(
                f"Invalid 'dimensions': expected an integer between 1 and {MAX_DIMENSIONS}, "
                f"but got {dimensions} instead.",
                param="dimensions",
                code="invalid_value",
            )

    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidRequest(
            f"Invalid type for 'user': expected a string, but got {_json_type(user)} instead.",
            param="user",
            code="invalid_type",
        )
    return EmbeddingParams(model, inputs, encoding_format, dimensions)


def input_tokens(item: EmbeddingInput) -> int:
    return estimate_tokens(item) if isinstance(item, str) else len(item)


def _hash_key(model: str, item: EmbeddingInput) -> bytes:
    if isinstance(item, str):
        data = b"s" + item.encode()
    else:
        data = b"t" + ",".join(map(str, item)).encode()
    return model.encode() + b"\x00" + data


def embedding_bytes(model: str, item: EmbeddingInput, dimensions: int) -> bytes:
    """The vector as little-endian float32 bytes (what `encoding_format=base64` encodes)."""
    raw = hashlib.shake_256(_hash_key(model, item)).digest(4 * dimensions)
    ints = struct.unpack(f"<{dimensions}i", raw)
    norm = math.sqrt(math.fsum(x * x for x in ints)) or 1.0  # all-zero: astronomically rare
    return struct.pack(f"<{dimensions}f", *(x / norm for x in ints))


def embedding_vector(model: str, item: EmbeddingInput, dimensions: int) -> list[float]:
    """The vector the simulator answers for `item` (float32 values as Python floats).

    Public so that tests (the gateway's too) can compute the expected answer directly."""
    return list(struct.unpack(f"<{dimensions}f", embedding_bytes(model, item, dimensions)))


def directive(body: Any) -> str | None:
    """A `[sim ...]` directive in a text input, if any (the first one found)."""
    if not isinstance(body, dict):
        return None
    value = body.get("input")
    if isinstance(value, str):
        return find_directive(value)
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                found = find_directive(item)
                if found is not None:
                    return found
    return None


async def embeddings(call: Call) -> web.StreamResponse:
    try:
        params = parse_request(call.body)
        counts = [input_tokens(item) for item in params.inputs]
        for i, count in enumerate(counts):
            if count > MAX_INPUT_TOKENS:
                raise InvalidRequest(
                    f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however "
                    f"you requested {count} tokens ({count} in your prompt; 0 for the "
                    "completion). Please reduce your prompt; or completion length.",
                    param="input" if len(counts) == 1 else f"input[{i}]",
                    code="context_length_exceeded",
                )
        total = sum(counts)
        if total > MAX_REQUEST_TOKENS:
            raise InvalidRequest(
                f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request",
                param="input",
                code="max_tokens_per_request",
            )
    except InvalidRequest as exc:
        return render_error(exc.info)

    data = []
    for index, item in enumerate(params.inputs):
        packed = embedding_bytes(params.model, item, params.dimensions)
        if params.encoding_format == "base64":
            vector: Any = base64.b64encode(packed).decode("ascii")
        else:
            vector = struct.unpack(f"<{params.dimensions}f", packed)
        data.append({"object": "embedding", "index": index, "embedding": vector})
    payload = {
        "object": "list",
        "data": data,
        "model": params.model,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }
    return await json_response(call, payload)


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST", "/v1/embeddings", embeddings, render_error, directive=directive, json_body=True
    ),
]
