"""The fingerprint (key id) of an Ed25519 public key: one definition for evidence signatures
and audit checkpoints alike."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.canonical import sha256_hex


def key_id(key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo: what forces publish, and what anyone can
    recompute with ``openssl pkey -pubin -in public.pem -outform DER | sha256sum``."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256_hex(der)
