"""resolve_model: every accepted id form, and clear errors for the rest."""

from __future__ import annotations

import sys

import pytest

from tether.exceptions import ConfigError, MissingExtraError
from tether.models._resolve import resolve_model
from tether.models._types import ModelClient, ModelRequest, ModelResponse, StreamDelta


class Custom:
    model_id = "custom"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse(text="x")

    async def stream(self, request: ModelRequest):  # type: ignore[no-untyped-def]
        yield StreamDelta(kind="text", text="x")


def test_a_model_client_is_returned_unchanged() -> None:
    custom = Custom()
    assert isinstance(custom, ModelClient)
    assert resolve_model(custom) is custom


def test_openai_ids() -> None:
    pytest.importorskip("openai")
    from tether.models._openai import OpenAIModel

    model = resolve_model("openai:gpt-4.1-mini")
    assert isinstance(model, OpenAIModel)
    assert (model.model, model.base_url) == ("gpt-4.1-mini", None)
    assert model.model_id == "openai:gpt-4.1-mini"


@pytest.mark.parametrize(
    ("spec", "name", "base_url"),
    [
        ("openai:qwen2.5@http://127.0.0.1:8000/v1", "qwen2.5", "http://127.0.0.1:8000/v1"),
        # Ollama tags contain ':'; only the first '@' splits off the base URL.
        ("openai:qwen2.5:7b@http://localhost:11434/v1", "qwen2.5:7b", "http://localhost:11434/v1"),
        ("openai:m@http://user:pw@host/v1", "m", "http://user:pw@host/v1"),
    ],
)
def test_openai_compatible_endpoint_ids(spec: str, name: str, base_url: str) -> None:
    pytest.importorskip("openai")
    model = resolve_model(spec)
    assert (model.model, model.base_url) == (name, base_url)  # type: ignore[attr-defined]
    # The id shows the URL without its credentials (it is stored, labelled, traced);
    # requests go to ``base_url`` as given.
    assert model.model_id == spec.replace("user:pw@", "")


def test_anthropic_ids() -> None:
    pytest.importorskip("anthropic")
    from tether.models._anthropic import AnthropicModel

    model = resolve_model("anthropic:claude-sonnet-4-5")
    assert isinstance(model, AnthropicModel)
    assert model.model_id == "anthropic:claude-sonnet-4-5"
    gateway = resolve_model("anthropic:claude-haiku-4-5@https://gw.example")
    assert gateway.model_id == "anthropic:claude-haiku-4-5@https://gw.example"


def test_local_resolves_to_the_embedded_model() -> None:
    from tether.models._local import LocalModel

    model = resolve_model("local")
    assert isinstance(model, LocalModel)
    try:
        assert model.model_id.startswith("local:")
    finally:
        model.close()


def test_local_with_a_gguf_path() -> None:
    from tether.models._local import LocalModel

    model = resolve_model("local:/models/tiny.Q8_0.gguf")
    assert isinstance(model, LocalModel)
    try:
        assert model.model_id == "local:tiny-Q8_0"
    finally:
        model.close()


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("gpt-4.1-mini", "no provider prefix"),
        ("mistral:large", "unknown provider 'mistral'"),
        ("openai:", "the model name is empty"),
        ("openai:@http://x", "the model name is empty"),
        ("openai:m@", "the base URL after '@' is empty"),
        ("local:smollm", "a .gguf path"),
        ("", "no provider prefix"),
    ],
)
def test_bad_ids_raise_config_error_listing_accepted_forms(spec: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model(spec)
    assert why in info.value.message
    assert "'openai:<model>@<base_url>'" in info.value.message
    assert "'local'" in info.value.message


def test_non_model_objects_are_rejected() -> None:
    with pytest.raises(ConfigError, match="ModelClient"):
        resolve_model(42)  # type: ignore[arg-type]


def test_missing_provider_sdk_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(MissingExtraError) as info:
        resolve_model("anthropic:claude-haiku-4-5")
    assert info.value.extra == "anthropic"
    assert 'pip install "tether-runtime[anthropic]"' in info.value.message
