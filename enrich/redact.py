"""Secret redaction: take API keys out of text before it is printed, stored or cut short.

Servers and HTTP libraries echo credentials back in surprising shapes: the key itself in any
letter case, URL-encoded (``%2B``), JSON-escaped (``\\/``, ``\\u00e9``), or base64-encoded inside an
``Authorization: Bearer KEY`` or ``Basic user:KEY`` header that a proxy quotes in its error page.
:class:`Redactor` replaces every such form with ``***``. Redact **before** truncating: a key cut
in half by a 300-character limit is no longer recognisable, and half a key is still a leak
(:meth:`Redactor.cut` does both in the right order).

Example:
    >>> Redactor(["sk-test-1234567890"]).cut("bad key SK-TEST-1234567890, try again", 20)
    'bad key ***, try aga'
"""

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

REPLACEMENT = "***"
# forms shorter than this are not redacted (they would erase ordinary words); real API keys
# are far longer
MIN_FORM_CHARS = 4


def _base64_cores(secret: bytes) -> set[str]:
    """The base64 characters that encode ``secret`` whatever precedes it.

    In base64, the text of a secret depends on its offset modulo 3 in the encoded bytes (the
    ``user:`` of a Basic header, ``Bearer `` ...). For each of the three offsets this keeps only
    the characters made of the secret's bits alone, so they match inside any longer encoding.
    """
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode("ascii")
        start = -(-8 * offset // 6)  # ceil: first character whose 6 bits are all the secret's
        end = (8 * (offset + len(secret))) // 6
        core = encoded[start:end]
        cores.add(core)
        cores.add(core.translate(str.maketrans("+/", "-_")))  # URL-safe alphabet
    return cores


def secret_forms(secret: str) -> set[str]:
    """Every text form of ``secret`` that redaction looks for (before case folding).

    Args:
        secret: an API key or other credential.

    Returns:
        The secret as written, upper- and lower-case, URL-encoded, JSON-escaped and the
        offset-independent cores of its base64 encoding; forms shorter than
        ``MIN_FORM_CHARS`` are left out.
    """
    forms = {secret, secret.upper(), secret.lower(), quote(secret, safe=""), quote(secret),
             quote_plus(secret), json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms |= {form.replace("/", "\\/") for form in list(forms)}
    forms |= _base64_cores(secret.encode("utf-8"))
    return {form for form in forms if len(form) >= MIN_FORM_CHARS}


class Redactor:
    """Replaces every known form of some secrets with ``***``.

    Args:
        secrets: credentials to hide (empty or None entries are ignored).

    Example:
        >>> Redactor(["hunter2hunter2"])("Authorization: Bearer hunter2hunter2")
        'Authorization: Bearer ***'
    """

    def __init__(self, secrets: Iterable[str | None]):
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= secret_forms(secret)
        ordered = sorted(forms, key=len, reverse=True)  # the longest form wins at a position
        self._needles = tuple({form.lower() for form in ordered})
        self._pattern = (re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)
                         if ordered else None)
        self.longest = len(ordered[0]) if ordered else 0

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        """``text`` with every form of every secret replaced by ``***``."""
        if self._pattern is None or not text:
            return text
        folded = text.lower()
        if not any(needle in folded for needle in self._needles):
            return text  # the common case: one pass of plain substring search
        # again until stable: a replacement can bring two halves of a form together
        while True:
            redacted = self._pattern.sub(REPLACEMENT, text)
            if redacted == text:
                return redacted
            text = redacted

    def cut(self, text: str, limit: int) -> str:
        """Redact, then keep at most ``limit`` characters (never the other way round).

        Only a window a little longer than ``limit`` is redacted, so a huge body costs little;
        the window grows when redaction shrinks it below ``limit`` plus the longest form.
        """
        window = limit + self.longest
        while True:
            redacted = self(text[:window])
            if window >= len(text) or len(redacted) >= limit + self.longest:
                return redacted[:limit]
            window *= 2


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form of each secret replaced by ``***`` (see :class:`Redactor`).

    Args:
        text: an error message, a response body, an exception's text.
        secrets: credentials to hide.

    Returns:
        The redacted text. Build a :class:`Redactor` once instead when redacting often.
    """
    return Redactor(secrets)(text)


_CREDENTIAL_PARAM = re.compile(r"key|token|secret|password|passwd|auth|sig|credential",
                               re.IGNORECASE)


def url_credential(url: str, secrets: Iterable[str | None] = ()) -> str | None:
    """The part of ``url`` that carries a credential, or None.

    A user name or password (``https://user:KEY@host/v1``), a query parameter whose name says
    it is one (``?api_key=``, ``?token=``, ``?sig=``), or any query value equal to one of
    ``secrets``. Such a URL would be stored with the run and printed in messages.

    Args:
        url: a server base URL.
        secrets: credentials known to the caller (the API key).

    Returns:
        ``"user info"`` or the query parameter's name; None when the URL is clean.
    """
    parts = urlsplit(url)
    if parts.username or parts.password:
        return "user info"
    known = {secret for secret in secrets if secret}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if _CREDENTIAL_PARAM.search(name) or value in known:
            return name
    return None
