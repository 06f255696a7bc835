"""Secrets out of every message: credentials in URLs, bearer tokens, token-like query parameters."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_SECRET_PARAM = re.compile(r"(?i)([?&](?:access_token|token|password|passwd|secret|api_key|apikey|key)=)[^&\s'\"]+")


def redact(text: str) -> str:
    """`text` with URL credentials, bearer tokens and secret query parameters replaced by ***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _BEARER.sub(lambda m: f"{m[1]}{MASK}", text)
    return _SECRET_PARAM.sub(lambda m: f"{m[1]}{MASK}", text)


def redact_url(url: str) -> str:
    """A URL safe to print: no user, no password, no secret query parameters."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # not a URL urllib can take apart (a bad port): the text rules still apply
        return redact(url)
    host = parts.hostname or ""
    if port:
        host = f"{host}:{port}"
    if parts.username or parts.password:
        host = f"{MASK}@{host}"
    return redact(urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)))
