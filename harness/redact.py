"""Credentials never leave the process: every URL password in a message is
replaced by ``***`` before it is printed, stored as a tag or attribute, or
written to a report.

``redact`` works on any text (an exception message, a traceback, a URL);
``parse_url`` splits a URL the way urllib does but turns its confusing
errors (``nonnumeric port: 'pw@host'``) into one clear message that names the
redacted URL.
"""
from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@host — the password runs to the last "@" of the authority
# (urllib splits "u:p@ss@host" the same way); the authority ends at "/", "?", "#",
# whitespace or a quote.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@'\"]*):(?P<password>[^\s/?#'\"]*)@"
    r"(?=[^\s/?#@'\"]*(?:[\s/?#'\"]|$))")


# libpq-style "key=value" connection strings
_DSN_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<password>'[^']*'|\"[^\"]*\"|[^\s'\",;]+)", re.IGNORECASE)


class BadURL(ValueError):
    """A URL that cannot be used; the message names it with its password redacted."""


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL
    (and every libpq ``password=…``) replaced by ``***``."""
    if "@" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    if "=" in text:
        text = _DSN_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    return text


def parse_url(url: str, what: str = "URL") -> SplitResult:
    """``urlsplit(url)`` with its port and host checked; ``BadURL`` (naming
    ``what`` and the redacted URL) when the port is not a number 0–65535."""
    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        port = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        raise BadURL(f"{what} {redact(url)}: port {redact(port)!r} is not a number from 0 to 65535 (a password "
                     "containing ':', '@', '/', '?' or '#' must be percent-encoded, e.g. '@' as %40)") from None
    return parts


def without_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without ``user:password@`` and the (user, password) it had, for
    clients such as urllib that do not read credentials from the URL."""
    parts = parse_url(url)
    if parts.username is None and parts.password is None:
        return url, None
    from urllib.parse import unquote

    netloc = parts.netloc.rpartition("@")[2]
    return (urlunsplit(parts._replace(netloc=netloc)),
            (unquote(parts.username or ""), unquote(parts.password or "")))
