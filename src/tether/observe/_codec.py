"""Payload codecs and sealed values: what a secret becomes in the store, and how it comes back.

Redaction protects what leaves the process and never changes what executes. A sensitive
value that must be recoverable (a tool argument named ``password``, a credential a tool
is about to receive again after approval or recovery) is *sealed*: replaced in the
persisted JSON by a marker holding the value encrypted with a key that lives outside the
store::

    {"$sealed": "<token>", "kid": "<key id>"}

Without a codec the value is replaced by a reference that cannot be undone::

    {"$redacted": "<reason>"}

:func:`unseal` turns markers back into the exact original values;
:func:`has_unrecoverable` says beforehand whether that is possible (a ``$redacted``
marker, or a key id the codec does not hold), so a caller can park a call as an uncertain
write instead of running it with a placeholder. Data that already holds a dict with a
reserved key (``$sealed``, ``$redacted``, ``$literal``) is wrapped as
``{"$literal": {...}}`` when sealed, so every JSON value round-trips.

A :class:`PayloadCodec` is the pluggable part, like Temporal's payload codec:
:class:`AESGCMCodec` ships in the box; a KMS-backed one implements the same three
members.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from tether.exceptions import ConfigError, StoreError

SEALED = "$sealed"
"""Marker key: the value, encrypted; ``kid`` names the key."""
REDACTED = "$redacted"
"""Marker key: the value is gone; the marker's value says why (never the secret)."""
LITERAL = "$literal"
"""Marker key: a dict of the original data that merely looked like a marker."""
RESERVED_KEYS = frozenset({SEALED, REDACTED, LITERAL})

KEY_ENV = "TETHER_PAYLOAD_KEY"
"""The environment variable :meth:`AESGCMCodec.from_env` reads by default."""

_NONCE_BYTES = 12
_TOKEN_PREFIX = "v1"


class UnrecoverableValueError(StoreError):
    """A sealed value cannot be turned back into the original.

    Raised by :func:`unseal` for a ``$redacted`` marker (nothing was kept), a ``$sealed``
    marker whose key id the codec does not hold (or no codec at all), or a token that does
    not decrypt (tampered, or a different key under the same id). ``reason`` and ``kid``
    say which; neither holds secret material.
    """


@runtime_checkable
class PayloadCodec(Protocol):
    """Encrypts plaintext into a printable token and back; ``key_id`` names the key used.

    Implementations must round-trip (``decode(encode(b)) == b``) and raise
    :class:`UnrecoverableValueError` when a token cannot be decoded. Tokens should be
    URL-safe base64 behind a short alphanumeric prefix: a redactor keeps a marker whose
    token holds no credential shape and no known secret, and the prefix keeps shapes that
    begin a word (``sk-``, ``eyJ``) from matching at the token's start.
    """

    @property
    def key_id(self) -> str:
        """Stable name of the key; stored next to every token it produced."""
        ...

    def encode(self, plaintext: bytes) -> str:
        """The token for ``plaintext`` (ASCII, safe to store in JSON)."""
        ...

    def decode(self, token: str) -> bytes:
        """The plaintext of a token this codec produced."""
        ...


class AESGCMCodec:
    """AES-256-GCM with a random 96-bit nonce per value; tokens are base64url text.

    The key id is bound to every token as associated data, so a token relabelled with
    another key id does not decrypt.

    Args:
        key: 32 random bytes (``os.urandom(32)``); keep it outside the store.
        key_id: Name stored in every marker; defaults to a fingerprint of the key (a
            truncated SHA-256 of a domain-separated input), so a different key is noticed
            as an unknown key id rather than as a decryption failure.

    Raises:
        ConfigError: The key is not 32 bytes or the key id is empty.
    """

    __slots__ = ("_aad", "_aead", "_key_id")

    def __init__(self, key: bytes, key_id: str | None = None) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not isinstance(key, bytes | bytearray) or len(key) != 32:
            raise ConfigError("AESGCMCodec needs a 32-byte key, e.g. os.urandom(32)")
        if key_id is None:
            key_id = "k" + hashlib.sha256(b"tether-payload-key\0" + bytes(key)).hexdigest()[:16]
        if not key_id:
            raise ConfigError("AESGCMCodec key_id must be a non-empty string")
        self._aead = AESGCM(bytes(key))
        self._key_id = key_id
        self._aad = key_id.encode()

    @property
    def key_id(self) -> str:
        """Name of the key, stored next to each token."""
        return self._key_id

    @classmethod
    def generate_key(cls) -> str:
        """A new random key as base64 text, for ``TETHER_PAYLOAD_KEY`` or a secrets manager."""
        return base64.b64encode(os.urandom(32)).decode()

    @classmethod
    def from_base64(cls, text: str, key_id: str | None = None) -> AESGCMCodec:
        """A codec from a base64 (standard or urlsafe, padding optional) 32-byte key.

        This is the form a secrets broker hands out.

        Raises:
            ConfigError: The text is not base64 of 32 bytes.
        """
        cleaned = text.strip()
        padded = cleaned + "=" * (-len(cleaned) % 4)
        try:
            key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("payload key must be base64 of 32 random bytes") from None
        if len(key) != 32:
            raise ConfigError(f"payload key must be 32 bytes, got {len(key)}")
        return cls(key, key_id)

    @classmethod
    def from_env(
        cls,
        name: str = KEY_ENV,
        key_id: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> AESGCMCodec:
        """A codec from a base64 key in an environment variable (``TETHER_PAYLOAD_KEY``).

        Raises:
            ConfigError: The variable is unset, empty or not a base64 32-byte key.
        """
        env = os.environ if environ is None else environ
        text = env.get(name, "")
        if not text.strip():
            raise ConfigError(
                f"environment variable {name} is not set; create a key with "
                "AESGCMCodec.generate_key() and keep it outside the store"
            )
        return cls.from_base64(text, key_id)

    def encode(self, plaintext: bytes) -> str:
        """Encrypt ``plaintext``; the token is nonce and ciphertext, base64url, unpadded."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, self._aad)
        # The version prefix also keeps a credential shape from matching at the token's
        # start ("sk-...", "eyJ..."), so a redactor never mistakes a token for a secret.
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def decode(self, token: str) -> bytes:
        """Decrypt a token from :meth:`encode`.

        Raises:
            UnrecoverableValueError: The token is malformed, tampered with, or was made
                with another key.
        """
        from cryptography.exceptions import InvalidTag

        if not token.startswith(_TOKEN_PREFIX):
            raise UnrecoverableValueError(
                "sealed value is not a token of this codec", reason="malformed", kid=self._key_id
            )
        body = token[len(_TOKEN_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise UnrecoverableValueError(
                "sealed value is not a valid token", reason="malformed", kid=self._key_id
            ) from None
        if len(raw) <= _NONCE_BYTES:
            raise UnrecoverableValueError(
                "sealed value is too short", reason="malformed", kid=self._key_id
            )
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad)
        except InvalidTag:
            raise UnrecoverableValueError(
                "sealed value does not decrypt with this key",
                reason="invalid_tag",
                kid=self._key_id,
            ) from None

    def __repr__(self) -> str:
        return f"AESGCMCodec(key_id={self._key_id!r})"


# -- markers ----------------------------------------------------------------------------------


def sealed_marker(value: Any, codec: PayloadCodec | None, reason: str) -> dict[str, str]:
    """The marker that stands for ``value``: encrypted with ``codec``, or a bare reference."""
    if codec is None:
        return {REDACTED: reason}
    plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return {SEALED: codec.encode(plaintext), "kid": codec.key_id}


def is_marker(obj: object) -> bool:
    """Whether ``obj`` is a ``$sealed`` or ``$redacted`` marker."""
    return isinstance(obj, dict) and (SEALED in obj or REDACTED in obj)


def unseal(obj: Any, codec: PayloadCodec | None, *, strict: bool = True) -> Any:
    """``obj`` with every marker turned back into the exact original value.

    With ``strict=False`` a marker that cannot be opened is left in place (and
    ``$literal`` wrappers are still undone), for loading a log whose older values were
    sealed under a key this process does not hold; :func:`has_unrecoverable` on the result
    then says whether anything is missing.

    Raises:
        UnrecoverableValueError: (``strict`` only) A ``$redacted`` marker, a ``$sealed``
            marker with a key id the codec does not hold (or no codec), or a token that
            does not decrypt.
    """
    if strict:
        return _walk_markers(obj, lambda marker: _open(marker, codec))

    def open_or_keep(marker: Mapping[str, Any]) -> Any:
        try:
            return _open(marker, codec)
        except UnrecoverableValueError:
            return marker

    return _walk_markers(obj, open_or_keep)


def has_unrecoverable(obj: Any, codec: PayloadCodec | None = None) -> bool:
    """Whether :func:`unseal` with ``codec`` would fail on a marker key id or a reference.

    Only the key id is checked, not the tokens (a tampered token still fails in
    :func:`unseal`).
    """
    found = False

    def check(marker: Mapping[str, Any]) -> Any:
        nonlocal found
        if REDACTED in marker or codec is None or marker.get("kid") != codec.key_id:
            found = True
        return None

    _walk_markers(obj, check)
    return found


def mask_markers(obj: Any, replacement: str) -> Any:
    """``obj`` with every marker shown as ``replacement`` (and ``$literal`` unwrapped)."""
    return _walk_markers(obj, lambda _: replacement)


def _open(marker: Mapping[str, Any], codec: PayloadCodec | None) -> Any:
    if REDACTED in marker:
        raise UnrecoverableValueError(
            "value was redacted without a payload codec and cannot be recovered",
            reason=str(marker[REDACTED]),
            kid=None,
        )
    kid = marker.get("kid")
    if codec is None or kid != codec.key_id:
        raise UnrecoverableValueError(
            f"value was sealed with key {kid!r}, which this codec does not hold",
            reason="unknown_key",
            kid=kid,
        )
    token = marker[SEALED]
    if not isinstance(token, str):
        raise UnrecoverableValueError("sealed value is not a token", reason="malformed", kid=kid)
    try:
        return json.loads(codec.decode(token))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise UnrecoverableValueError(
            "sealed value decrypted to something that is not JSON", reason="malformed", kid=kid
        ) from None


def _walk_markers(obj: Any, on_marker: Callable[[Mapping[str, Any]], Any]) -> Any:
    """Rebuild ``obj`` with markers replaced by ``on_marker`` and ``$literal`` unwrapped.

    What holds no marker is returned as the same object.
    """
    if isinstance(obj, dict):
        if SEALED in obj or REDACTED in obj:
            return on_marker(obj)
        if LITERAL in obj and len(obj) == 1 and isinstance(obj[LITERAL], dict):
            inner = obj[LITERAL]
            return {key: _walk_markers(value, on_marker) for key, value in inner.items()}
        out: dict[Any, Any] = {}
        changed = False
        for key, value in obj.items():
            new = _walk_markers(value, on_marker)
            changed = changed or new is not value
            out[key] = new
        return out if changed else obj
    if isinstance(obj, list):
        items = [_walk_markers(item, on_marker) for item in obj]
        if any(new is not old for new, old in zip(items, obj, strict=True)):
            return items
        return obj
    return obj
