"""Sealing: sensitive values are stored encrypted (or as references) and come back exactly."""

from __future__ import annotations

import base64
import json
import os
import random
from typing import Any

import pytest

from tether.engine._events import ToolStarted, decode_event, encode_event
from tether.exceptions import ConfigError, StoreError
from tether.observe import (
    AESGCMCodec,
    PayloadCodec,
    Redactor,
    UnrecoverableValueError,
    has_unrecoverable,
    unseal,
)

R = "[REDACTED]"
KNOWN = "hunter2hunter2"
STRIPE = "sk_" + "live_" + "51HxQpXYZabc123def456"  # assembled so scanners do not flag it


@pytest.fixture
def codec() -> AESGCMCodec:
    return AESGCMCodec(os.urandom(32))


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(values_source=lambda: frozenset({KNOWN}))


# -- the codec --------------------------------------------------------------------------------


def test_codec_round_trips_bytes_with_a_fresh_nonce(codec: AESGCMCodec) -> None:
    """Two encodings of the same plaintext differ; both decode to it."""
    first, second = codec.encode(b"plain"), codec.encode(b"plain")
    assert first != second
    assert codec.decode(first) == codec.decode(second) == b"plain"
    assert isinstance(codec, PayloadCodec)
    assert "plain" not in repr(codec)


def test_key_id_defaults_to_a_fingerprint_of_the_key() -> None:
    """The same key gets the same id in every process; another key, another id."""
    key = os.urandom(32)
    assert AESGCMCodec(key).key_id == AESGCMCodec(key).key_id
    assert AESGCMCodec(key).key_id != AESGCMCodec(os.urandom(32)).key_id
    assert AESGCMCodec(key, key_id="2026-01").key_id == "2026-01"


def test_tokens_are_bound_to_their_key_id(codec: AESGCMCodec) -> None:
    """Same key, other key id: the token does not decrypt (the id is authenticated)."""
    key = os.urandom(32)
    token = AESGCMCodec(key, key_id="a").encode(b"x")
    with pytest.raises(UnrecoverableValueError):
        AESGCMCodec(key, key_id="b").decode(token)


def test_tampered_or_foreign_tokens_are_unrecoverable(codec: AESGCMCodec) -> None:
    """A flipped character, garbage, or another key's token raise the specific error."""
    token = codec.encode(b"secret")
    middle = len(token) // 2  # the last character may only carry padding bits
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    for bad in (flipped, "v1!!!", "nope", "v1", AESGCMCodec(os.urandom(32)).encode(b"x")):
        with pytest.raises(UnrecoverableValueError):
            codec.decode(bad)
    assert issubclass(UnrecoverableValueError, StoreError)


def test_codec_from_base64_and_from_env() -> None:
    """A base64 key (standard, urlsafe, unpadded) from a broker value or the environment."""
    key = os.urandom(32)
    token = AESGCMCodec(key).encode(b"x")
    for text in (
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        f"  {base64.b64encode(key).decode()}\n",
    ):
        assert AESGCMCodec.from_base64(text).decode(token) == b"x"
    env = {"TETHER_PAYLOAD_KEY": base64.b64encode(key).decode()}
    assert AESGCMCodec.from_env(environ=env).decode(token) == b"x"
    assert len(base64.b64decode(AESGCMCodec.generate_key())) == 32


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_bad_keys_are_config_errors(text: str) -> None:
    """A key that is not base64 of 32 bytes fails at start-up, naming the fix."""
    with pytest.raises(ConfigError):
        AESGCMCodec.from_env(environ={"TETHER_PAYLOAD_KEY": text})
    with pytest.raises(ConfigError):
        AESGCMCodec(b"too short")


# -- seal and unseal --------------------------------------------------------------------------


SENSITIVE_PARAMETERS = ["page_token", "session", "auth", "cookie", "password", "token"]


@pytest.mark.parametrize("name", SENSITIVE_PARAMETERS)
def test_sensitive_parameters_are_sealed_and_come_back_exactly(
    redactor: Redactor, codec: AESGCMCodec, name: str
) -> None:
    """Stored encrypted, handed back to the tool as it was (any JSON type)."""
    for value in ("abc", 12345, {"nested": ["x", 1.5]}, ["a", None]):
        args = {name: value, "q": "weather"}
        sealed = redactor.seal(args, codec)
        assert sealed["q"] == "weather"
        assert set(sealed[name]) == {"$sealed", "kid"}
        assert sealed[name]["kid"] == codec.key_id
        assert json.dumps(value) not in json.dumps(sealed)
        assert unseal(sealed, codec) == args
        assert not has_unrecoverable(sealed, codec)


def test_booleans_and_null_under_sensitive_names_are_kept(
    redactor: Redactor, codec: AESGCMCodec
) -> None:
    """``"auth": true`` reveals nothing and stays readable."""
    args = {"auth": True, "token": None, "session": False}
    assert redactor.seal(args, codec) is args


def test_without_a_codec_values_become_unrecoverable_references(redactor: Redactor) -> None:
    """No key: a ``$redacted`` marker; ``has_unrecoverable`` says so before ``unseal`` fails."""
    sealed = redactor.seal({"password": "pw", "note": KNOWN, "n": 1})
    assert sealed == {"password": {"$redacted": "field"}, "note": {"$redacted": "text"}, "n": 1}
    assert has_unrecoverable(sealed)
    assert has_unrecoverable(sealed, AESGCMCodec(os.urandom(32)))
    with pytest.raises(UnrecoverableValueError) as caught:
        unseal(sealed, None)
    assert KNOWN not in str(caught.value) and "pw" not in repr(caught.value.context)


def test_an_unknown_key_id_is_unrecoverable(redactor: Redactor, codec: AESGCMCodec) -> None:
    """Sealed under one key, opened with another: reported, not guessed."""
    sealed = redactor.seal({"token": "t-1"}, codec)
    other = AESGCMCodec(os.urandom(32))
    assert has_unrecoverable(sealed, other)
    assert has_unrecoverable(sealed, None)
    with pytest.raises(UnrecoverableValueError) as caught:
        unseal(sealed, other)
    assert caught.value.context["reason"] == "unknown_key"


def test_text_holding_a_secret_is_sealed_whole(redactor: Redactor, codec: AESGCMCodec) -> None:
    """A command with a secret inside runs with its exact text; ``mask_text`` shows it masked."""
    command = f"curl -H 'Authorization: Bearer {STRIPE}' https://api/{KNOWN}"
    sealed = redactor.seal({"command": command}, codec)
    assert set(sealed["command"]) == {"$sealed", "kid"}
    assert unseal(sealed, codec) == {"command": command}
    masked = redactor.seal({"command": command}, codec, mask_text=True)
    assert masked == {"command": f"curl -H 'Authorization: Bearer {R}' https://api/{R}"}
    whole = redactor.seal({"x": KNOWN}, codec, mask_text=True)
    assert unseal(whole, codec) == {"x": KNOWN}  # a string that *is* a secret stays sealed


def test_a_secret_key_seals_its_mapping_whole(redactor: Redactor, codec: AESGCMCodec) -> None:
    """A secret used as a key is never stored in clear (red team 14): a key cannot be a
    marker, so the mapping holding it is sealed whole, and comes back with its exact keys
    (renaming keys could merge them)."""
    data = {KNOWN: 1}
    sealed = redactor.seal(data, codec)
    assert isinstance(sealed, dict) and "$sealed" in sealed
    assert KNOWN not in json.dumps(sealed)
    assert unseal(sealed, codec) == data


def test_data_that_looks_like_a_marker_round_trips(redactor: Redactor, codec: AESGCMCodec) -> None:
    """Dicts with ``$sealed``/``$redacted``/``$literal`` keys in the input stay data."""
    data = [
        {"$sealed": "abc", "kid": "k"},
        {"$redacted": "field"},
        {"$literal": {"$sealed": "x"}},
        {"$literal": {"password": "pw"}},
    ]
    sealed = redactor.seal(data, codec)
    assert not has_unrecoverable(sealed, codec)
    assert unseal(sealed, codec) == data


def test_sealed_values_survive_event_redaction(redactor: Redactor, codec: AESGCMCodec) -> None:
    """The store's redaction pass keeps our markers, so a sealed argument still unseals."""
    args = {"api_key": STRIPE, "password": KNOWN, "city": "Paris"}
    event = ToolStarted(
        call=0,
        call_id="c1",
        tool="t",
        arguments=redactor.seal(args, codec),
        idempotency_key="r:1:0",
    )
    stored = redactor.redact_json(encode_event(event))
    assert STRIPE.encode() not in stored and KNOWN.encode() not in stored
    decoded = decode_event(stored)
    assert isinstance(decoded, ToolStarted)
    assert unseal(decoded.arguments, codec) == args


def test_a_forged_marker_does_not_smuggle_a_secret(redactor: Redactor) -> None:
    """Tool output shaped like a marker but holding a secret is redacted like any data."""
    for forged in (
        {"$sealed": KNOWN, "kid": "k"},
        {"$sealed": "v1abc", "kid": STRIPE},
        {"$redacted": f"x {KNOWN}"},
        {"$sealed": "v1abc", "kid": "k", "password": "pw"},
    ):
        out = json.dumps(redactor.redact_value({"result": forged}))
        assert KNOWN not in out and STRIPE not in out and '"pw"' not in out, forged


def test_for_display_always_masks(redactor: Redactor, codec: AESGCMCodec) -> None:
    """Markers show as the replacement; secrets in clear text are masked too."""
    sealed = redactor.seal({"password": "pw", "q": "ok"}, codec)
    sealed["note"] = f"echo {KNOWN}"
    assert redactor.for_display(sealed) == {"password": R, "q": "ok", "note": f"echo {R}"}


# -- round trip on arbitrary JSON --------------------------------------------------------------

_STRINGS = [
    "",
    "plain",
    KNOWN,
    f"text with {KNOWN} inside",
    STRIPE,
    f"Bearer {STRIPE}",
    "password=pw",
    "completed",
    "$sealed",
    "é ☃ \u0000 \ud7ff",
    base64.b64encode(KNOWN.encode()).decode(),
]
_KEYS = ["a", "b", "password", "page_token", "auth", "$sealed", "$redacted", "$literal", "kid"]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**70), 2**70)
    if kind == 3:
        return rng.choice([0.0, -1.5, 1e300, rng.random()])
    if kind in (4, 5):
        return rng.choice(_STRINGS)
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(_KEYS): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_seal_round_trips_random_json(redactor: Redactor, codec: AESGCMCodec) -> None:
    """``unseal(seal(x, c), c) == x``, also through a JSON dump and load."""
    rng = random.Random(20260101)
    for _ in range(500):
        value = _random_json(rng)
        sealed = redactor.seal(value, codec)
        assert unseal(sealed, codec) == value
        assert unseal(json.loads(json.dumps(sealed)), codec) == value
        assert not has_unrecoverable(sealed, codec)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is optional; the seeded generator above always runs
    pass
else:
    _json = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text()
        | st.sampled_from(_STRINGS),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
    _CODEC = AESGCMCodec(os.urandom(32))
    _REDACTOR = Redactor(values_source=lambda: frozenset({KNOWN}))

    @settings(max_examples=200, deadline=None)
    @given(_json)
    def test_seal_round_trips_any_json(value: Any) -> None:
        """Property: sealing then unsealing any JSON value gives it back exactly."""
        sealed = _REDACTOR.seal(value, _CODEC)
        assert unseal(json.loads(json.dumps(sealed)), _CODEC) == value


def test_unrecoverable_error_pickles_with_its_context() -> None:
    """It crosses process boundaries like every Tether error."""
    import pickle

    err = UnrecoverableValueError("gone", reason="unknown_key", kid="k1")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, UnrecoverableValueError)
    assert (back.context["reason"], back.context["kid"]) == ("unknown_key", "k1")


def test_lenient_unseal_keeps_what_it_cannot_open(redactor: Redactor, codec: AESGCMCodec) -> None:
    """``strict=False`` opens what it can, keeps other markers, and unwraps ``$literal``."""
    other = AESGCMCodec(os.urandom(32))
    data = {
        "mine": redactor.seal({"token": "t-1"}, codec),
        "theirs": redactor.seal({"token": "t-2"}, other),
        "gone": redactor.seal({"token": "t-3"}),
        "look": redactor.seal({"$sealed": "x"}, codec),
    }
    out = unseal(data, codec, strict=False)
    assert out["mine"] == {"token": "t-1"}
    assert out["theirs"] == data["theirs"] and out["gone"] == data["gone"]
    assert out["look"] == {"$sealed": "x"}
    assert has_unrecoverable(out["theirs"], codec) and has_unrecoverable(out["gone"], codec)
