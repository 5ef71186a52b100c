"""Keep secrets out of every line this tool writes: known secrets, and anything credential-shaped."""

from __future__ import annotations

import base64
import logging
import re
import threading
from urllib.parse import quote

# What a credential looks like inside a message that should never carry one: an Authorization
# value, a token or password parameter, a URL's user:password@, a JWT.
_SECRET_RE = re.compile(
    r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]+|\b((?:access_|refresh_|id_)?token|password|secret)=[^&\s'\"]+|(://)[^/@\s:]+:[^/@\s]+@"
)
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
MIN_LENGTH = 4  # shorter "secrets" would blank out ordinary words

_known: set[str] = set()
_lock = threading.Lock()


def remember(*secrets: str) -> None:
    """Note secrets this process holds (passwords, tokens) so that no message can show them,
    nor any line of one (a token with a newline in it prints in pieces)."""
    forms = set()
    for secret in secrets:
        for piece in {secret, *secret.splitlines()}:
            piece = piece.strip()
            if len(piece) >= MIN_LENGTH:
                forms.update({piece, quote(piece, safe=""), repr(piece)[1:-1]})
    with _lock:
        _known.update(forms)


def remember_pair(username: str, password: str) -> None:
    """A password, and the base64 `user:pass` a Basic header or a docker config carries."""
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    remember(password, pair, pair.rstrip("="))


def redact(text: str) -> str:
    """Blank out known secrets and anything credential-shaped; the last line of defence."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "***")
    text = _JWT_RE.sub("***", text)
    return _SECRET_RE.sub(lambda m: f"{m.group(1)} ***" if m.group(1) else f"{m.group(2)}=***" if m.group(2) else f"{m.group(3)}***@", text)


class RedactingFormatter(logging.Formatter):
    """For --debug: the whole formatted record, traceback included, goes through redact()."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def forget() -> None:
    """For tests that run many commands in one process: each starts knowing no secret."""
    with _lock:
        _known.clear()
