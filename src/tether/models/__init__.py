"""Model providers behind one ``ModelClient`` protocol, routing, pricing.

Adapters import their SDKs lazily: a missing extra fails with the exact
``pip install "tether-runtime[...]"`` line when the adapter is built, not on import.
The adapter classes themselves are imported on first use too (PEP 562), so code
that never names a provider never loads its adapter module.
"""

import importlib as _importlib
import typing as _typing

from tether.models._embed import Embedder, LlamaEmbedder
from tether.models._errors import NOT_GENERATED_CODES, ModelErrorCode
from tether.models._pricing import DEFAULT_PRICING, Price, PricingTable, cost
from tether.models._resolve import resolve_model
from tether.models._router import Router
from tether.models._routing import DEFAULT_ANSWER_EXAMPLES, ExampleRouter, ExampleToolSpec
from tether.models._scripted import ScriptedModel, text, tool_call
from tether.models._types import (
    Message,
    ModelClient,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    StepKind,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
    construct_trusted,
)
from tether.models._untrusted import (
    UNTRUSTED_DATA_NOTICE,
    neutralize_delimiters,
    render_tool_output,
    with_untrusted_notice,
)
from tether.models._vector_cache import cache_dir
from tether.models._wire import MAX_ARGUMENT_DEPTH, nesting_exceeds, text_nesting_exceeds

_ADAPTERS = {
    "AnthropicModel": "tether.models._anthropic",
    "LocalModel": "tether.models._local",
    "LocalModelStats": "tether.models._local",
    "OpenAIModel": "tether.models._openai",
}
"""Where each lazily imported adapter name lives."""

_ALL = sorted(
    [*_ADAPTERS, *(name for name in globals() if not name.startswith("_"))],
    key=lambda s: (not s.isupper(), s),
)
"""The public names: those imported above and the adapters (the literal below for mypy)."""

if _typing.TYPE_CHECKING:
    from tether.models._anthropic import AnthropicModel
    from tether.models._local import LocalModel, LocalModelStats
    from tether.models._openai import OpenAIModel

    __all__ = [
        "DEFAULT_ANSWER_EXAMPLES",
        "DEFAULT_PRICING",
        "MAX_ARGUMENT_DEPTH",
        "NOT_GENERATED_CODES",
        "UNTRUSTED_DATA_NOTICE",
        "AnthropicModel",
        "Embedder",
        "ExampleRouter",
        "ExampleToolSpec",
        "LlamaEmbedder",
        "LocalModel",
        "LocalModelStats",
        "Message",
        "ModelClient",
        "ModelErrorCode",
        "ModelRequest",
        "ModelResponse",
        "ModelSettings",
        "OpenAIModel",
        "Price",
        "PricingTable",
        "Router",
        "ScriptedModel",
        "StepKind",
        "StreamDelta",
        "ToolCall",
        "ToolSpec",
        "Usage",
        "cache_dir",
        "construct_trusted",
        "cost",
        "nesting_exceeds",
        "neutralize_delimiters",
        "render_tool_output",
        "resolve_model",
        "text",
        "text_nesting_exceeds",
        "tool_call",
        "with_untrusted_notice",
    ]


def __getattr__(name: str) -> _typing.Any:
    """Import an adapter module on first use of its class, and keep the name.

    ``__all__`` is served here too, after loading every adapter: whoever asks for the
    whole public surface (``from tether.models import *``, documentation tools) gets it.
    """
    if name == "__all__":
        for each in _ADAPTERS:
            __getattr__(each)
        globals()["__all__"] = list(_ALL)
        return globals()["__all__"]
    home = _ADAPTERS.get(name)
    if home is None:
        raise AttributeError(f"module 'tether.models' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ALL})
