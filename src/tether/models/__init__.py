"""Model providers behind one ``ModelClient`` protocol, routing, pricing.

Adapters import their SDKs lazily: a missing extra fails with the exact
``pip install "tether-runtime[...]"`` line when the adapter is built, not on import.
"""

from tether.models._anthropic import AnthropicModel
from tether.models._errors import ModelErrorCode
from tether.models._local import LocalModel, LocalModelStats
from tether.models._openai import OpenAIModel
from tether.models._pricing import DEFAULT_PRICING, Price, PricingTable, cost
from tether.models._resolve import resolve_model
from tether.models._router import Router
from tether.models._scripted import ScriptedModel
from tether.models._types import (
    Message,
    ModelClient,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

__all__ = [
    "DEFAULT_PRICING",
    "AnthropicModel",
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
    "StreamDelta",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "cost",
    "resolve_model",
]
