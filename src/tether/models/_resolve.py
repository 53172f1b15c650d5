"""``resolve_model``: turn a model id string from config or the CLI into a ModelClient.

Provider SDKs are imported only when their id is resolved, so ``local`` works
without the ``[openai]`` or ``[anthropic]`` extras installed, and asking for a
provider whose extra is missing fails with the exact ``pip install`` line.
"""

from __future__ import annotations

from tether.exceptions import ConfigError
from tether.models._endpoint import safe_model_spec
from tether.models._types import ModelClient

__all__ = ["ACCEPTED_FORMS", "resolve_model"]

ACCEPTED_FORMS = (
    "local",
    "local:<path/to/model.gguf>",
    "openai:<model>",
    "openai:<model>@<base_url>",
    "anthropic:<model>",
    "anthropic:<model>@<base_url>",
)
"""The model id forms :func:`resolve_model` understands."""


def _bad(spec: str, why: str) -> ConfigError:
    forms = ", ".join(repr(f) for f in ACCEPTED_FORMS)
    shown = safe_model_spec(spec)  # never a password in the base URL
    return ConfigError(
        f"cannot resolve model {shown!r}: {why}. Accepted forms: {forms}", model=shown
    )


def resolve_model(spec: str | ModelClient) -> ModelClient:
    """Build the ModelClient a model id names; a ModelClient is returned unchanged.

    Forms:
        ``local``: the embedded llama.cpp model (no key, no network).
        ``local:<path>.gguf``: the embedded runtime with another GGUF file.
        ``openai:gpt-4.1-mini``: OpenAI (``OPENAI_API_KEY``).
        ``openai:qwen2.5@http://127.0.0.1:8000/v1``: any OpenAI-compatible
        server; everything after the first ``@`` is the base URL, so model
        names may contain ``:`` (``openai:qwen2.5:7b@http://localhost:11434/v1``).
        ``anthropic:claude-sonnet-4-5`` (``ANTHROPIC_API_KEY``), optionally
        with ``@<base_url>`` for a gateway.

    Raises:
        ConfigError: the id has none of these forms.
        MissingExtraError: the provider's SDK is not installed.
    """
    if not isinstance(spec, str):
        if isinstance(spec, ModelClient):
            return spec
        raise ConfigError(
            f"a model must be a model id string or a ModelClient, not {type(spec).__name__}"
        )
    text = spec.strip()
    if text == "local":
        from tether.models._local import LocalModel

        return LocalModel()
    provider, sep, rest = text.partition(":")
    if not sep:
        raise _bad(spec, "no provider prefix")
    if provider == "local":
        if not rest.endswith(".gguf"):
            raise _bad(spec, "a local model is 'local' or 'local:' followed by a .gguf path")
        from tether.models._local import LocalModel

        return LocalModel(rest)
    model, _, base_url = rest.partition("@")
    if not model:
        raise _bad(spec, "the model name is empty")
    if "@" in rest and not base_url:
        raise _bad(spec, "the base URL after '@' is empty")
    if provider == "openai":
        from tether.models._openai import OpenAIModel

        return OpenAIModel(model, base_url=base_url or None)
    if provider == "anthropic":
        from tether.models._anthropic import AnthropicModel

        return AnthropicModel(model, base_url=base_url or None)
    raise _bad(spec, f"unknown provider {provider!r}")
