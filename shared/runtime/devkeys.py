"""Local-only signing keys: generated once under ``var/keys`` so that identity (signer)
and linking (verifier), and ``portal staff-token`` and linking, agree on a local run
without configuration. Never used when ``ENVIRONMENT=production``."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEYS_DIR = (
    Path(os.environ.get("PORTAL_VAR_DIR", Path(__file__).resolve().parents[2] / "var")) / "keys"
)


def dev_keypair(name: str, directory: Path | None = None) -> tuple[str, str]:
    """(private PEM, public PEM) of the local key ``name`` (ES256), created on first use.

    Creation is race-free across processes: the key is written to a temporary file and
    linked into place; the loser of a race reads the winner's key.
    """
    directory = directory or KEYS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pem"
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(pem)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    private_pem = path.read_text()
    loaded = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public_pem = (
        loaded.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem
