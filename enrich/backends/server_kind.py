"""Which OpenAI-compatible server is behind a base URL, and which structured-output dialect it
understands.

Each server says what it is in its own way (read from the servers' source):

- OpenAI: the host ``api.openai.com``.
- vLLM: ``GET /v1/models`` entries have ``owned_by: "vllm"`` (``ModelCard`` in
  ``vllm/entrypoints/openai/protocol.py``) and ``GET /version`` (at the server root, not under
  ``/v1``) answers ``{"version": "0.x.y"}``. ``structured_outputs={"json": ...}`` exists from
  0.10.2 on; ``response_format`` json_schema works on every version.
- llama-cpp-python (``python -m llama_cpp.server``): ``/v1/models`` entries have
  ``owned_by: "me"`` (``llama_cpp/server/app.py``, 0.3.x); no ``/version``, no ``/props``. It
  accepts only ``response_format`` ``text`` or ``json_object`` (+ ``schema``).
- llama.cpp's C++ ``llama-server``: ``owned_by: "llamacpp"`` and ``GET /props`` (server
  settings: ``default_generation_settings``, ``total_slots``, ``build_info`` ...). Accepts
  ``response_format`` json_object + schema and json_schema.

Servers ignore body fields they do not know (HTTP 200 with unconstrained text), so the wrong
dialect fails silently: probing first turns that into a warning or the right choice.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from enrich.jobs import ServerKind

_STRUCTURED_OUTPUTS_SINCE = (0, 10, 2)
_OPENAI_OWNERS = frozenset({"openai", "system", "openai-internal"})
DIALECT_CHOICES = ("vllm (vLLM >= 0.10.2), vllm-legacy (older vLLM), openai (OpenAI), "
                   "llamacpp-server (llama.cpp's llama-server or llama-cpp-python)")


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What a server turned out to be.

    Attributes:
        label: human name, e.g. "llama-cpp-python's server".
        preferred: the dialect to use when the job does not set ``server``.
        accepts: every dialect that works on this server.
        evidence: how it was recognised (shown in warnings).
    """

    label: str
    preferred: ServerKind
    accepts: frozenset[str] = field(default_factory=frozenset)
    evidence: str = ""

    def understands(self, dialect: str) -> bool:
        """Whether ``dialect`` works here (``none``, free text, works everywhere)."""
        return dialect == "none" or dialect in self.accepts


def _vllm(version: str | None, evidence: str) -> ServerIdentity:
    parsed = parse_version(version) if version else None
    if parsed is not None and parsed < _STRUCTURED_OUTPUTS_SINCE:
        return ServerIdentity(f"vLLM {version}", "vllm-legacy",
                              frozenset({"vllm-legacy", "openai"}), evidence)
    label = f"vLLM {version}" if version else "vLLM"
    preferred: ServerKind = "vllm" if parsed is not None else "vllm-legacy"
    return ServerIdentity(label, preferred, frozenset({"vllm", "vllm-legacy", "openai"}),
                          evidence)


LLAMA_CPP_PYTHON = ServerIdentity("llama-cpp-python's server", "llamacpp-server",
                                  frozenset({"llamacpp-server"}))
LLAMA_CPP_SERVER = ServerIdentity("llama.cpp's llama-server", "llamacpp-server",
                                  frozenset({"llamacpp-server", "openai"}))
OPENAI = ServerIdentity("OpenAI", "openai", frozenset({"openai"}))


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``"0.10.2rc1"`` → ``(0, 10, 2)``; None when there is no leading ``X.Y``."""
    match = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def identity_from_url(base_url: str) -> ServerIdentity | None:
    """OpenAI is recognised by its host alone (no probe needed)."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "api.openai.com":
        return _with_evidence(OPENAI, "host api.openai.com")
    return None


def identity_from_models(payload: Any) -> ServerIdentity | None:
    """From a ``GET /v1/models`` body: the ``owned_by`` of its entries."""
    data = payload.get("data") if isinstance(payload, dict) else None
    owners = {str(entry.get("owned_by")) for entry in data or [] if isinstance(entry, dict)}
    evidence = "GET /v1/models: owned_by {!r}"
    if "vllm" in owners:
        return _vllm(None, evidence.format("vllm"))
    if "me" in owners:
        return _with_evidence(LLAMA_CPP_PYTHON, evidence.format("me"))
    if "llamacpp" in owners:
        return _with_evidence(LLAMA_CPP_SERVER, evidence.format("llamacpp"))
    known = owners & _OPENAI_OWNERS
    if known:
        return _with_evidence(OPENAI, evidence.format(sorted(known)[0]))
    return None


def identity_from_version(payload: Any) -> ServerIdentity | None:
    """From a ``GET /version`` body: vLLM answers ``{"version": "0.x.y"}``."""
    if isinstance(payload, dict) and isinstance(payload.get("version"), str):
        version = payload["version"]
        if parse_version(version) is not None:
            return _vllm(version, f"GET /version: {version}")
    return None


def identity_from_props(payload: Any) -> ServerIdentity | None:
    """From a ``GET /props`` body: llama.cpp's server settings."""
    if isinstance(payload, dict) and ({"default_generation_settings", "total_slots",
                                       "build_info"} & set(payload)):
        return _with_evidence(LLAMA_CPP_SERVER, "GET /props")
    return None


def _with_evidence(identity: ServerIdentity, evidence: str) -> ServerIdentity:
    return ServerIdentity(identity.label, identity.preferred, identity.accepts, evidence)


def server_root(base_url: str) -> str:
    """The server root for ``/version`` and ``/props``: the base URL without its ``/v1``."""
    url = base_url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


async def probe_server(get_json: Callable[[str], Awaitable[Any]], base_url: str,
                       models_payload: Any) -> ServerIdentity | None:
    """Recognise the server behind ``base_url``; None when it does not say.

    Args:
        get_json: fetches a URL and returns its parsed JSON body, or None on any failure (the
            backend's own session does it: it is the one HTTP client in the engine).
        base_url: the OpenAI base URL (``http://host:8000/v1``).
        models_payload: the parsed ``GET /v1/models`` body, already fetched (or None).

    Returns:
        The identity, from the URL, ``/v1/models``, ``/version`` or ``/props``, in that order.
    """
    found = identity_from_url(base_url) or identity_from_models(models_payload)
    if found is not None and found.label != "vLLM":  # known, and no version to look up
        return found
    root = server_root(base_url)
    by_version = identity_from_version(await get_json(f"{root}/version"))
    if by_version is not None:
        evidence = by_version.evidence + (f"; {found.evidence}" if found else "")
        return ServerIdentity(by_version.label, by_version.preferred, by_version.accepts,
                              evidence)
    if found is not None:
        return found
    return identity_from_props(await get_json(f"{root}/props"))


def dialect_hint(identity: ServerIdentity | None, dialect: str, *, refused: bool = False) -> str:
    """What to do instead of ``--server dialect`` (one clause, for error messages).

    Args:
        identity: what the server is, if it said.
        dialect: the dialect in use.
        refused: the server rejected the request (rather than ignoring the schema).
    """
    if identity is not None and not identity.understands(dialect):
        return (f"the server is {identity.label} ({identity.evidence}): pass "
                f"--server {identity.preferred}")
    if identity is not None and refused:
        return (f"{identity.label} takes --server {dialect}, so it refuses something in the "
                "output schema: simplify the schema, or pass --server none for free text")
    return f"pass the --server the server speaks: {DIALECT_CHOICES}"
