"""Masking of secret-looking values, everywhere abtui shows or writes them.

By name (``is_secret_name``: WANDB_API_KEY, HF_TOKEN, DB_PASS, GH_PAT, *_CONNECTION_STRING)
and by the shape of the value (``redact``: a password in a URL's userinfo, ``Bearer …``,
tokens with known prefixes such as ``hf_``, ``ghp_``, ``sk-``, and ``--api-key VALUE`` /
``NAME=VALUE`` pairs with secret names in free text).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

_SECRET = re.compile(r"(TOKEN|KEY|SECRET|PASSW|PASSWD|PWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|"
                     r"CONNECTION_?STRING|CONNSTR)", re.IGNORECASE)
#: Whole words of a name that mark it secret (as substrings they would catch PATH, BYPASS).
_SECRET_WORDS = frozenset({"PAT", "PASS", "CONN", "DSN", "PW"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")
MASK = "***"


def is_secret_name(name: str) -> bool:
    """True for names like WANDB_API_KEY, HF_TOKEN, DB_PASS, GH_PAT, DB_CONNECTION_STRING."""
    if _SECRET.search(name):
        return True
    return any(w.upper() in _SECRET_WORDS for w in _WORD_SPLIT.split(name) if w)


_SHAPES = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), r"\1***@"),
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    # tokens whose prefix says what they are
    (re.compile(r"\b(hf_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|sk-(?:proj-|ant-)?|"
                r"sk_live_|sk_test_|rk_live_|xox[abprs]-|AKIA|ASIA|npm_|pypi-)[A-Za-z0-9_\-]{8,}"),
     r"\1***"),
    # connection strings: Server=db;User Id=u;Pwd=secret; / Password=secret
    (re.compile(r"(?i)\b(pwd|password|passwd)(\s*=\s*)[^;\s\"']+"), r"\1\2***"),
)
# ``'token': 'v'``, ``"api_key": "v"``, ``password: v`` (a dict, JSON or YAML-ish line)
_COLON = re.compile(r"([\"']?)([A-Za-z_][\w.-]*)\1(\s*:\s*)([\"']?)([^\"'\s,;}\]]+)\4")
_FLAG = re.compile(r"(--([A-Za-z0-9][\w.-]*))(=|\s+)(?!-)(\S+)")
_ASSIGN = re.compile(r"(?<![\w-])([A-Za-z_][A-Za-z0-9_.]*)=(\S+)")


def _flag(m: re.Match[str]) -> str:
    if m.group(4) == MASK or not is_secret_name(m.group(2).replace("-", "_")):
        return m.group(0)
    return f"{m.group(1)}{m.group(3)}{MASK}"


def _assign(m: re.Match[str]) -> str:
    if m.group(2) == MASK or not is_secret_name(m.group(1)):
        return m.group(0)
    return f"{m.group(1)}={MASK}"


def redact(text: str) -> str:
    """``text`` with secret-shaped values masked (see the module docstring)."""
    if not text:
        return text
    for pattern, repl in _SHAPES:
        text = pattern.sub(repl, text)
    if "=" in text or "--" in text:
        text = _FLAG.sub(_flag, text)  # --api-key VALUE, --hf_token=VALUE
        text = _ASSIGN.sub(_assign, text)  # DB_PASS=VALUE
    if ":" in text:
        text = _COLON.sub(_colon, text)  # {'hf_token': 'v'}, "api_key": "v", password: v
    return text


def _colon(m: re.Match[str]) -> str:
    if m.group(5) == MASK or not is_secret_name(m.group(2)):
        return m.group(0)
    q = m.group(4)
    return f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{q}{MASK}{q}"


def mask_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config with the values of secret-named keys masked (at any depth) and every string
    value redacted by shape."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, Mapping):
            out[k] = mask_config(v)
        elif is_secret_name(str(k)) and v not in (None, "", False):
            out[k] = MASK
        elif isinstance(v, str):
            out[k] = redact(v)
        else:
            out[k] = v
    return out


def mask_argv(argv: list[str]) -> list[str]:
    """An argv with the value after a secret-named flag masked, and each word redacted."""
    out: list[str] = []
    hide = False
    for word in (str(w) for w in argv if w is not None):
        if hide and not word.startswith("-"):
            out.append(MASK)
            hide = False
            continue
        hide = False
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if is_secret_name(name.replace("-", "_")):
                if eq:
                    out.append(f"--{name}={MASK}")
                    continue
                hide = True
        out.append(redact(word))
    return out


def secret_config_keys(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted config keys whose names look secret (they would reach a command line)."""
    out = []
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out += secret_config_keys(v, key + ".")
        elif is_secret_name(str(k)) and v not in (None, "", False):
            out.append(key)
    return out


def mask_env(env: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``env`` with secret-looking values replaced by ``***``."""
    return {k: (MASK if is_secret_name(str(k)) and v not in (None, "")
                else redact(v) if isinstance(v, str) else v) for k, v in env.items()}


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
                   flat_config: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{"env.HF_TOKEN": digest, "config.wandb_api_key": digest}`` for every secret-looking
    name with a value, in ``env`` and in the config (flattened: dotted keys)."""
    out = {f"env.{k}": secret_digest(key, v) for k, v in env.items()
           if is_secret_name(str(k)) and v not in (None, "")}
    for k, v in (flat_config or {}).items():
        if is_secret_name(k.rsplit(".", 1)[-1]) and v not in (None, ""):
            out[f"config.{k}"] = secret_digest(key, v)
    return out

