"""Encryption of personal data at rest, and keyed blind indexes for lookups.

Envelope encryption: each record (a member) gets its own random data key (DEK); the DEK is
stored wrapped by a per-tenant key-encryption key derived from the master key (`PEONY_PII_KEY`).
Destroying a member's wrapped DEK makes their encrypted fields unreadable (erasure) while the
rest of the record keeps its pseudonymous id. Lookups by phone use an HMAC of the normalised
value under a per-tenant index key, so equal phones match without the phone being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12
_VERSION = b"\x01"


class DecryptionError(Exception):
    pass


class PiiCipher:
    def __init__(self, master_key: bytes):
        if len(master_key) != 32:
            raise ValueError("PII master key must be 32 bytes")
        self._master = master_key
        # Derived keys are pure functions of (master, tenant, purpose): cache them per process.
        self._derive = lru_cache(maxsize=1024)(self._derive_uncached)
        self._unwrap_cached = lru_cache(maxsize=65536)(self._unwrap_uncached)

    def _derive_uncached(self, tenant: str, purpose: str) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"peony-pii-v1", info=f"{purpose}/{tenant}".encode()
        ).derive(self._master)

    # --- data keys -------------------------------------------------------------------------
    def new_data_key(self, tenant: str) -> tuple[bytes, bytes]:
        """A fresh DEK and its wrapped form (what gets stored)."""
        dek = AESGCM.generate_key(bit_length=256)
        return dek, self._seal(self._derive(tenant, "kek"), dek, tenant.encode())

    def unwrap(self, tenant: str, wrapped: bytes) -> bytes:
        return self._unwrap_cached(tenant, bytes(wrapped))

    def _unwrap_uncached(self, tenant: str, wrapped: bytes) -> bytes:
        return self._open(self._derive(tenant, "kek"), wrapped, tenant.encode())

    # --- fields ----------------------------------------------------------------------------
    def encrypt_field(self, dek: bytes, plaintext: str, aad: str) -> bytes:
        return self._seal(dek, plaintext.encode(), aad.encode())

    def decrypt_field(self, dek: bytes, blob: bytes, aad: str) -> str:
        return self._open(dek, bytes(blob), aad.encode()).decode()

    def blind_index(self, tenant: str, purpose: str, normalised_value: str) -> bytes:
        return hmac.new(
            self._derive(tenant, f"bidx/{purpose}"), normalised_value.encode(), hashlib.sha256
        ).digest()

    def prefix_blind_index(self, tenant: str, purpose: str, prefix: str) -> bytes:
        """A keyed index of one prefix (keyed BLAKE2b, 16 bytes: a MAC, cheap enough to index
        every prefix of a value)."""
        return hashlib.blake2b(
            prefix.encode(), key=self._derive(tenant, f"pidx/{purpose}"), digest_size=16
        ).digest()

    def prefix_blind_indexes(self, tenant: str, purpose: str, value: str, max_chars: int) -> list[bytes]:
        """``prefix_blind_index`` of each of ``value``'s first ``max_chars`` prefixes (1, 2, ...
        characters): prefix search without storing the value."""
        key = self._derive(tenant, f"pidx/{purpose}")
        encoded = [ch.encode() for ch in value[:max_chars]]
        return [
            hashlib.blake2b(b"".join(encoded[:n]), key=key, digest_size=16).digest()
            for n in range(1, len(encoded) + 1)
        ]

    # --- opaque blobs (e.g. stored idempotent responses that may contain PII) -------------
    def seal(self, tenant: str, purpose: str, data: bytes) -> bytes:
        return self._seal(self._derive(tenant, f"seal/{purpose}"), data, tenant.encode())

    def open(self, tenant: str, purpose: str, blob: bytes) -> bytes:
        return self._open(self._derive(tenant, f"seal/{purpose}"), bytes(blob), tenant.encode())

    # --- primitives ------------------------------------------------------------------------
    @staticmethod
    def _seal(key: bytes, data: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + AESGCM(key).encrypt(nonce, data, aad)

    @staticmethod
    def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
            raise DecryptionError("not a Peony ciphertext")
        try:
            return AESGCM(key).decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad)
        except Exception as exc:  # cryptography raises InvalidTag
            raise DecryptionError("ciphertext failed authentication") from exc
