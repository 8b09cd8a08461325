"""Masking of secret-looking values, everywhere abtui shows or writes them."""

from __future__ import annotations

import re
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
