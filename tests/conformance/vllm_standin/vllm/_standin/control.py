"""How tests steer and observe the stand-in: settings from the environment, call records.

Settings are read when an `LLM` is built, so a test sets them with `monkeypatch.setenv` (or in
a subprocess's environment) before the backend starts.
"""

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StandinConfig:
    """What the fake engine does.

    Attributes:
        delay_s: seconds every `generate` / `chat` call sleeps (a slow engine).
        max_model_len: context length; a longer prompt fails the whole call.
        calls_file: append one JSON line per call here (None: do not).
    """

    delay_s: float = 0.0
    max_model_len: int = 32768
    calls_file: str | None = None

    @classmethod
    def from_env(cls) -> "StandinConfig":
        return cls(delay_s=float(os.environ.get("VLLM_STANDIN_DELAY_S", "0") or 0),
                   max_model_len=int(os.environ.get("VLLM_STANDIN_MAX_MODEL_LEN", "32768")),
                   calls_file=os.environ.get("VLLM_STANDIN_CALLS_FILE") or None)


@dataclass
class StandinCall:
    """One `LLM.chat` or `LLM.generate` call, as the engine received it."""

    method: str
    inputs: list[Any]
    sampling_params: Any
    kwargs: dict[str, Any]
    started: float = field(default_factory=time.time)
    finished: float | None = None
    outputs: list[Any] | None = None
    error: str | None = None

    def summary(self, event: str) -> dict[str, Any]:
        """A JSON-able digest (what `VLLM_STANDIN_CALLS_FILE` gets at `start` and `end`)."""
        params = self.sampling_params
        return {"event": event, "pid": os.getpid(), "method": self.method,
                "prompts": len(self.inputs),
                "params_is_list": isinstance(params, list),
                "params": len(params) if isinstance(params, list) else 1,
                "use_tqdm": self.kwargs.get("use_tqdm"), "started": self.started,
                "finished": self.finished, "error": self.error}


_INSTANCES: list[Any] = []
_LOCK = threading.Lock()


def register(llm: Any) -> None:
    """Remember an `LLM` built in this process (tests read `instances()[-1].calls`)."""
    with _LOCK:
        _INSTANCES.append(llm)


def instances() -> list[Any]:
    """Every `LLM` built in this process, oldest first."""
    return list(_INSTANCES)


def reset() -> None:
    """Forget the `LLM`s built so far."""
    with _LOCK:
        _INSTANCES.clear()


def write_call(config: StandinConfig, call: StandinCall, event: str) -> None:
    """Append the call's digest to `config.calls_file` (one JSON line, flushed at once)."""
    if config.calls_file:
        with _LOCK, open(config.calls_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(call.summary(event)) + "\n")
