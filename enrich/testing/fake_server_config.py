"""Configuration of the fault-injecting fake OpenAI-compatible server (pydantic, extra="forbid")."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultRates(BaseModel):
    """Probability of each injected fault per request; they are exclusive and sum to at most 1.

    Each request draws one number in [0, 1) from a hash of (seed, request key, attempt number),
    so a given attempt of a given request always meets the same fault, whatever the arrival order.
    """

    model_config = ConfigDict(extra="forbid")

    http_500: float = Field(
        default=0.0, ge=0.0, le=1.0, description="500 with an OpenAI error body"
    )
    http_503: float = Field(
        default=0.0, ge=0.0, le=1.0, description="503 with an OpenAI error body"
    )
    http_429: float = Field(
        default=0.0, ge=0.0, le=1.0, description="429 with a Retry-After header"
    )
    hang: float = Field(
        default=0.0, ge=0.0, le=1.0, description="sleep hang_s, then answer normally"
    )
    truncated_json: float = Field(
        default=0.0, ge=0.0, le=1.0, description="content cut in the middle"
    )
    invalid_json: float = Field(
        default=0.0, ge=0.0, le=1.0, description='content `{"title": oops}`'
    )
    empty_content: float = Field(
        default=0.0, ge=0.0, le=1.0, description="content is the empty string"
    )
    connection_reset: float = Field(
        default=0.0, ge=0.0, le=1.0, description="transport aborted, no response"
    )
    wrong_shape: float = Field(
        default=0.0, ge=0.0, le=1.0, description="valid JSON failing the schema"
    )

    @model_validator(mode="after")
    def _rates_sum_to_at_most_one(self) -> "FaultRates":
        total = sum(self.as_dict().values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {total:.3f}; they must sum to at most 1")
        return self

    def as_dict(self) -> dict[str, float]:
        """Return {fault kind: rate} for every kind, in declaration order."""
        return {name: getattr(self, name) for name in FaultRates.model_fields}

    def cumulative(self) -> list[tuple[float, str]]:
        """Return [(upper bound, kind)] for the kinds with a positive rate, for one uniform draw."""
        bounds: list[tuple[float, str]] = []
        running = 0.0
        for kind, rate in self.as_dict().items():
            if rate > 0.0:
                running += rate
                bounds.append((running, kind))
        return bounds


FAULT_KINDS: tuple[str, ...] = tuple(FaultRates.model_fields)


class FakeServerConfig(BaseModel):
    """How the fake server answers: served models, auth, latency, faults and bookkeeping.

    Example:
        >>> FakeServerConfig(latency_ms=20, faults=FaultRates(http_500=0.1), seed=1).models
        ['test-model']
    """

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(
        default_factory=lambda: ["test-model"], min_length=1,
        description="model names served; any other model gets a vLLM-style 404",
    )
    api_key: str | None = Field(
        default=None, description="if set, require `Authorization: Bearer KEY`"
    )
    latency_ms: float = Field(default=0.0, ge=0.0, description="delay before every chat answer")
    latency_jitter_ms: float = Field(
        default=0.0, ge=0.0, description="uniform +/- jitter on latency_ms"
    )
    seed: int = Field(default=0, description="seeds fault draws and latency jitter")
    faults: FaultRates = Field(default_factory=FaultRates)
    retry_after_s: float = Field(
        default=1.0, ge=0.0, description="Retry-After value sent with 429s (may be fractional)"
    )
    hang_s: float = Field(default=30.0, ge=0.0, description="how long a `hang` fault sleeps")
    fail_first_n: int = Field(
        default=0, ge=0, description="the first N attempts of every request key fail with 500"
    )
    record_bodies: int = Field(
        default=0, ge=0, description="keep the last N request bodies, served at GET /bodies"
    )
    content_cache_size: int = Field(
        default=10_000, ge=0, description="answers cached per (schema, key) for repeated requests"
    )
    dialect: Literal["any", "vllm", "llama-cpp-python", "llama-server", "openai"] = Field(
        default="any", description="behave like this real server (see fake_dialects.py); "
        "`any` understands every way of sending a schema"
    )
    server_version: str = Field(
        default="0.11.0", description="what GET /version reports when dialect is vllm"
    )
