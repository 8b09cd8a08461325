"""Masking of secret-looking values, everywhere abtui shows or writes them."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

_SECRET = re.compile(r"(TOKEN|KEY|SECRET|PASSW|PASSWD|PWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE)",
                     re.IGNORECASE)
MASK = "***"


def is_secret_name(name: str) -> bool:
    """True for names like WANDB_API_KEY, HF_TOKEN, DB_PASSWORD."""
    return bool(_SECRET.search(name))


def mask_env(env: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``env`` with secret-looking values replaced by ``***``."""
    return {k: (MASK if is_secret_name(str(k)) and v not in (None, "") else v) for k, v in env.items()}


def mask_env_list(items: list[str]) -> list[str]:
    """Docker-style ``NAME=value`` lists, masked."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        out.append(f"{name}={MASK}" if sep and is_secret_name(name) and value else item)
    return out


def secret_digest(key: bytes, value: Any) -> str:
    """A keyed hash of a secret value (HMAC-SHA256, 16 hex digits). The key is made at
    launch and never stored, so the digests of one experiment can be compared with each
    other ("HF_TOKEN differs, values hidden") but not reversed or matched elsewhere."""
    return hmac.new(key, str(value).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]


def secret_digests(key: bytes, env: Mapping[str, Any],
                   config: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{"env.HF_TOKEN": digest, "config.wandb_api_key": digest}`` for every secret-looking
    name with a value, in ``env`` and in the (flattened) ``config``."""
    out = {f"env.{k}": secret_digest(key, v) for k, v in env.items()
           if is_secret_name(str(k)) and v not in (None, "")}
    for k, v in _flat(config or {}).items():
        if is_secret_name(k.rsplit(".", 1)[-1]) and v not in (None, ""):
            out[f"config.{k}"] = secret_digest(key, v)
    return out


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, Mapping) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
