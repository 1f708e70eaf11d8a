"""What a job will cost before it runs: rows, cache hits, requests, tokens, time and money.

``enrich plan JOB`` renders every source row exactly as ``enrich run`` would (same template,
same cache keys), checks the keys against the store, and sizes what is left:

- **prompt tokens** per request, in order of preference: measured on past requests of the same
  prompt version and model in the store; counted with the model's tokenizer on a sample of
  rendered prompts (the embedded GGUF's own vocabulary, or a vLLM server's ``/tokenize``);
  else estimated at 4 characters per token (the usual ratio of English text under BPE
  tokenizers; code and non-Latin scripts run denser, so treat it as a rough figure);
- **output tokens** per request: measured on past requests of the prompt, else an upper bound
  from the output schema's ``maxLength``/``maxItems`` bounds (4 characters per token), capped
  by ``max_tokens``;
- **time** at ``rows_per_s`` and **cost** at per-million-token prices, when given.

Example:
    >>> estimate = estimate_job(plan, store, sample=200)          # doctest: +SKIP
    >>> estimate.requests_to_send, estimate.prompt_tokens_total     # doctest: +SKIP
    (4812, 1830421)
"""

import asyncio
import math
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from enrich.plan import RunPlan
from enrich.prompts import Messages
from enrich.store import Store

CHARS_PER_TOKEN = 4.0
MESSAGE_OVERHEAD_TOKENS = 4  # role markers and separators of a chat template, per message
_UNBOUNDED_STRING_CHARS = 400  # a string without maxLength: counted as this many characters


class JobEstimate(BaseModel):
    """The numbers ``enrich plan`` prints (and ``--json`` writes)."""

    job: str
    rows: int
    rows_cached: int
    rows_failed_before: int
    rows_not_renderable: int
    requests_to_send: int
    prompt_tokens_per_request: float
    prompt_tokens_source: str
    output_tokens_per_request: float
    output_tokens_source: str
    prompt_tokens_total: int
    output_tokens_total: int
    rows_per_s: float | None = None
    seconds: float | None = None
    price_in_per_m: float | None = None
    price_out_per_m: float | None = None
    cost: float | None = None


def schema_output_chars(schema: dict[str, Any], defs: dict[str, Any] | None = None,
                        depth: int = 0) -> float:
    """An upper bound of the characters of a JSON value valid for ``schema``."""
    defs = schema.get("$defs", defs or {}) if depth == 0 else (defs or {})
    if depth > 20:
        return 0.0
    if "$ref" in schema:
        target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        return schema_output_chars(target, defs, depth + 1)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return max((schema_output_chars(s, defs, depth + 1) for s in schema[union]),
                       default=0.0)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return 2 + sum(len(name) + 4 + schema_output_chars(sub, defs, depth + 1)
                       for name, sub in props.items())
    if kind == "array":
        items = schema.get("maxItems", 10)
        return 2 + items * (1 + schema_output_chars(schema.get("items", {}), defs, depth + 1))
    if kind == "string":
        if "enum" in schema:
            return 2 + max((len(str(v)) for v in schema["enum"]), default=0)
        return 2 + schema.get("maxLength", _UNBOUNDED_STRING_CHARS)
    if kind in ("number", "integer"):
        return 12.0
    if kind == "boolean":
        return 5.0
    return 4.0


def past_token_means(store: Store, plan: RunPlan) -> tuple[float, float, int] | None:
    """(mean prompt tokens, mean output tokens, requests) of stored requests of this prompt
    version and model, or None when there are none."""
    row = store.sql("SELECT avg(q.prompt_tokens), avg(q.completion_tokens), count(*) "
                    "FROM requests q JOIN runs r ON r.run_id = q.run_id "
                    "WHERE q.prompt_version = ? AND r.model = ? AND q.prompt_tokens > 0",
                    [plan.prompt.version, plan.job.backend.model]).fetchone()
    if row is None or not row[2]:
        return None
    return float(row[0]), float(row[1] or 0.0), int(row[2])


def tokens_by_chars(messages: Messages) -> float:
    """The documented estimate: 4 characters per token plus a per-message overhead."""
    chars = sum(len(m["content"]) for m in messages)
    return chars / CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * len(messages)


def prompt_token_counter(plan: RunPlan, cache_dir: Any) -> tuple[Callable[[Messages], float],
                                                                 str]:
    """The best way to count a rendered prompt's tokens for this job, and its label."""
    backend = plan.job.backend
    if backend.kind == "llamacpp":
        try:
            from llama_cpp._utils import suppress_stdout_stderr

            from enrich.backends.llamacpp import import_llama_cpp
            from enrich.backends.model_files import locate_model

            path = locate_model(backend.model, cache_dir)
            with suppress_stdout_stderr(disable=False):  # llama.cpp logs to fd 2 at load
                vocab = import_llama_cpp().Llama(model_path=str(path), vocab_only=True,
                                                 verbose=False)
        except Exception:  # noqa: BLE001 - no model or no llama.cpp: fall back to the estimate
            return tokens_by_chars, f"estimate ({CHARS_PER_TOKEN:g} characters per token)"

        def count(messages: Messages) -> float:
            return sum(len(vocab.tokenize(m["content"].encode(), add_bos=False,
                                          special=False)) + MESSAGE_OVERHEAD_TOKENS
                       for m in messages)

        return count, f"tokenizer of {path.name} (sample)"
    if backend.kind == "openai" and backend.base_url:
        counter = _server_tokenizer(backend)
        if counter is not None:
            return counter, "server /tokenize (sample)"
    return tokens_by_chars, f"estimate ({CHARS_PER_TOKEN:g} characters per token)"


def _server_tokenize_url(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[:-3] + "/tokenize" if root.endswith("/v1") else root + "/tokenize"


def _server_tokenizer(backend: Any) -> Callable[[Messages], float] | None:
    """vLLM's ``POST /tokenize`` with chat messages (template included), if the server has it."""
    import json
    import urllib.request

    url = _server_tokenize_url(backend.base_url)

    def count(messages: Messages) -> float:
        body = json.dumps({"model": backend.model, "messages": messages}).encode()
        request = urllib.request.Request(url, data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - user's server
            return float(json.loads(resp.read())["count"])

    try:
        count([{"role": "user", "content": "hello"}])
    except Exception:  # noqa: BLE001 - any failure: the server has no usable /tokenize
        return None
    return count


def output_token_bound(plan: RunPlan) -> float:
    """Output tokens per request from the schema's bounds, capped by ``max_tokens``."""
    bound = math.ceil(schema_output_chars(plan.schema.json_schema or {}) / CHARS_PER_TOKEN)
    max_tokens = plan.params.get("max_tokens")
    return float(min(bound, max_tokens) if max_tokens else bound)


def price(tokens_in: int, tokens_out: int, price_in: float | None,
          price_out: float | None) -> float | None:
    """Cost at per-million-token prices (None when neither price is given)."""
    if price_in is None and price_out is None:
        return None
    return tokens_in / 1e6 * (price_in or 0.0) + tokens_out / 1e6 * (price_out or 0.0)


def estimate_job(plan: RunPlan, store: Store, *, cache_dir: Any, sample: int = 200,
                 rows_per_s: float | None = None, price_in: float | None = None,
                 price_out: float | None = None,
                 on_rows: Callable[[int], None] | None = None) -> JobEstimate:
    """Render every row as a run would, check the cache, and size what is left to send.

    Args:
        plan: the resolved job.
        store: the store the job would write to (read only here).
        cache_dir: where embedded models live (for their tokenizer).
        sample: rendered prompts whose tokens are counted (when no past run measured them).
        rows_per_s: throughput to time the run at (requests per second).
        price_in: price per million prompt tokens.
        price_out: price per million output tokens.
        on_rows: called with the number of rows after each batch (progress).
    """
    from enrich.row_feed import RowFeed

    scan = asyncio.run(_scan(RowFeed(plan, store, "plan"), plan, store, sample, on_rows))
    rows, cached, failed, not_renderable, to_send, samples = scan
    past = past_token_means(store, plan)
    if past is not None:
        prompt_mean, output_mean = past[0], past[1]
        prompt_source = output_source = f"measured on {past[2]:,} past requests of this prompt"
    else:
        counter, prompt_source = prompt_token_counter(plan, cache_dir)
        prompt_mean = sum(map(counter, samples)) / len(samples) if samples else 0.0
        output_mean = output_token_bound(plan)
        output_source = "upper bound from the schema" + (
            " and max_tokens" if plan.params.get("max_tokens") else "")
    tokens_in = round(prompt_mean * len(to_send))
    tokens_out = round(output_mean * len(to_send))
    return JobEstimate(
        job=plan.job.name, rows=rows, rows_cached=cached, rows_failed_before=failed,
        rows_not_renderable=not_renderable, requests_to_send=len(to_send),
        prompt_tokens_per_request=round(prompt_mean, 1), prompt_tokens_source=prompt_source,
        output_tokens_per_request=round(output_mean, 1), output_tokens_source=output_source,
        prompt_tokens_total=tokens_in, output_tokens_total=tokens_out, rows_per_s=rows_per_s,
        seconds=len(to_send) / rows_per_s if rows_per_s else None,
        price_in_per_m=price_in, price_out_per_m=price_out,
        cost=price(tokens_in, tokens_out, price_in, price_out))


async def _scan(feed: Any, plan: RunPlan, store: Store, sample: int,
                on_rows: Callable[[int], None] | None
                ) -> tuple[int, int, int, int, set[str], list[Messages]]:
    """Render every source row as a run would; count cache hits, old failures, unrenderable
    rows and distinct requests to send; keep the first ``sample`` prompts to send."""
    from enrich.store import now_us

    id_column = plan.job.source.id_column
    rows = cached = failed = not_renderable = 0
    to_send: set[str] = set()
    samples: list[Messages] = []
    for batch in plan.source.batches(1000):
        source_rows = [(str(row[id_column]), row) for row in batch]
        rendered, failures = await feed.render(source_rows, now_us())
        rows += len(source_rows)
        not_renderable += len(failures)
        known = store.known_keys([r.key for r in rendered]) if rendered else {}
        for item in rendered:
            state = known.get(item.key, "missing")
            if state is None:
                cached += 1
            elif state != "missing":
                failed += 1
            elif item.key not in to_send:
                to_send.add(item.key)
                if len(samples) < sample:
                    samples.append(item.messages)
        if on_rows is not None:
            on_rows(len(source_rows))
    return rows, cached, failed, not_renderable, to_send, samples
