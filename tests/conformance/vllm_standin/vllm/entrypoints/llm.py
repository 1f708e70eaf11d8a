# Stand-in for vLLM 0.34.0 `vllm/entrypoints/llm.py` and `vllm/entrypoints/common/offline.py`
# (NOT vLLM; see ../../README.md). Copied: `LLM.__init__`'s keyword names and defaults (extra
# keywords go to `EngineArgs`, which rejects unknown ones), `get_tokenizer`,
# `get_default_sampling_params`, `generate(prompts, sampling_params=None, *, use_tqdm=True,
# lora_request=None, priority=None, tokenization_kwargs=None, mm_processor_kwargs=None)` and
# `chat(messages, sampling_params=None, use_tqdm=True, ...)`: one SamplingParams for every
# prompt or a list of the same length (`_params_to_seq`), every prompt rendered and added before
# the engine runs, so a prompt longer than `max_model_len` fails the whole call with the
# renderer's `VLLMValidationError` (`renderers/params.py::_token_len_check`) and nothing is
# generated; `output_kind` set to FINAL_ONLY on each SamplingParams (`_add_request`); outputs
# returned in request order (`_run_engine`). The model is the fake engine of `vllm._standin`.
"""The offline engine's entry point: `LLM`."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vllm._standin import control
from vllm._standin.engine import FakeEngine
from vllm._standin.tokenizer import StandinTokenizer
from vllm.exceptions import VLLMValidationError
from vllm.outputs import RequestOutput
from vllm.sampling_params import RequestOutputKind, SamplingParams

# EngineArgs fields the stand-in accepts through **kwargs (EngineArgs rejects unknown names)
_ENGINE_ARGS = frozenset({
    "max_model_len", "max_num_seqs", "max_num_batched_tokens", "enable_prefix_caching",
    "enable_chunked_prefill", "disable_log_stats", "max_logprobs", "download_dir",
    "load_format", "kv_cache_dtype", "pipeline_parallel_size", "data_parallel_size",
    "distributed_executor_backend", "guided_decoding_backend", "generation_config",
    "limit_mm_per_prompt", "logprobs_mode", "async_scheduling"})


@dataclass
class StandinModelConfig:
    """The parts of vLLM's `ModelConfig` that callers read."""

    model: str
    max_model_len: int
    max_logprobs: int = 20
    runner_type: str = "generate"

    def get_vocab_size(self) -> int:
        return 151_936


class _Engine:
    """`LLM.llm_engine`: what callers reach through it (model config, tokenizer)."""

    def __init__(self, model_config: StandinModelConfig, tokenizer: StandinTokenizer):
        self.model_config = model_config
        self._tokenizer = tokenizer

    def get_tokenizer(self) -> StandinTokenizer:
        return self._tokenizer


class LLM:
    """An LLM for generating texts from given prompts and sampling parameters (stand-in)."""

    def __init__(
        self,
        model: str,
        *,
        runner: str = "auto",
        convert: str = "auto",
        tokenizer: str | None = None,
        tokenizer_mode: str = "auto",
        skip_tokenizer_init: bool = False,
        trust_remote_code: bool = False,
        allowed_local_media_path: str = "",
        allowed_media_domains: list[str] | None = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        quantization: str | None = None,
        revision: str | None = None,
        tokenizer_revision: str | None = None,
        chat_template: Path | str | None = None,
        seed: int = 0,
        gpu_memory_utilization: float | None = None,
        cpu_offload_gb: float = 0,
        offload_group_size: int = 0,
        offload_num_in_group: int = 1,
        offload_prefetch_step: int = 1,
        offload_params: set[str] | None = None,
        enforce_eager: bool = False,
        enable_return_routed_experts: bool = False,
        return_sampling_mask: bool = False,
        disable_custom_all_reduce: bool = False,
        hf_token: bool | str | None = None,
        hf_overrides: Any = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
        pooler_config: Any = None,
        structured_outputs_config: Any = None,
        profiler_config: Any = None,
        attention_config: Any = None,
        kv_cache_memory_bytes: int | None = None,
        enable_extensible_kv_cache: bool | None = None,
        compilation_config: Any = None,
        quantization_config: Any = None,
        logits_processors: list[Any] | None = None,
        spec_method: str | None = None,
        spec_model: str | None = None,
        spec_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        for name in kwargs:
            if name not in _ENGINE_ARGS:
                raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument "
                                f"'{name}'")
        if "does-not-exist" in model:
            raise OSError(f"{model} is not a local folder and is not a valid model identifier")
        config = control.StandinConfig.from_env()
        self.standin_config = config
        max_len = int(kwargs.get("max_model_len") or config.max_model_len)
        self.model_config = StandinModelConfig(model, max_len,
                                               int(kwargs.get("max_logprobs", 20)))
        self._tokenizer = StandinTokenizer()
        self.llm_engine = _Engine(self.model_config, self._tokenizer)
        self.engine = FakeEngine(self._tokenizer, max_len)
        self.request_counter = 0
        self.calls: list[control.StandinCall] = []
        control.register(self)

    def get_tokenizer(self) -> StandinTokenizer:
        return self.llm_engine.get_tokenizer()

    def get_default_sampling_params(self) -> SamplingParams:
        return SamplingParams()

    # -- entry points --------------------------------------------------------------------------
    def generate(
        self,
        prompts: Any,
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
        *,
        use_tqdm: bool | Callable[..., Any] = True,
        lora_request: Any = None,
        priority: int | Sequence[int] | None = None,
        tokenization_kwargs: dict[str, Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
    ) -> list[RequestOutput]:
        """Generates the completions for the input prompts (str, TextPrompt or TokensPrompt,
        or a sequence of them)."""
        seq = [prompts] if isinstance(prompts, str | dict) else list(prompts)
        call = control.StandinCall("generate", seq, sampling_params,
                                   {"use_tqdm": use_tqdm, "priority": priority})
        return self._run(call, [self._render_prompt(p) for p in seq])

    def chat(
        self,
        messages: Any,
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
        use_tqdm: bool | Callable[..., Any] = True,
        lora_request: Any = None,
        priority: int | Sequence[int] | None = None,
        chat_template: str | None = None,
        chat_template_content_format: str = "auto",
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
        tools: list[dict[str, Any]] | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        tokenization_kwargs: dict[str, Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
    ) -> list[RequestOutput]:
        """Generate responses for a chat conversation (one conversation, a list of messages,
        or a sequence of conversations)."""
        convs = [messages] if messages and isinstance(messages[0], dict) else list(messages)
        call = control.StandinCall("chat", convs, sampling_params,
                                   {"use_tqdm": use_tqdm, "priority": priority})
        tok = self._tokenizer
        rendered = (tok.apply_chat_template(
            conv, tools, add_generation_prompt=add_generation_prompt,
            continue_final_message=continue_final_message) for conv in convs)
        return self._run(call, ((text, None) for text in rendered))

    # -- machinery (offline.py) ----------------------------------------------------------------
    def _render_prompt(self, prompt: Any) -> tuple[str | None, list[int] | None]:
        if isinstance(prompt, str):
            return prompt, None
        if isinstance(prompt, dict) and "prompt_token_ids" in prompt:
            return prompt.get("prompt"), list(prompt["prompt_token_ids"])
        if isinstance(prompt, dict) and "prompt" in prompt:
            return prompt["prompt"], None
        raise TypeError(f"unsupported prompt type: {type(prompt).__name__}")

    def _params_to_seq(self, params: Any, num_requests: int) -> Sequence[SamplingParams]:
        if params is None:
            params = self.get_default_sampling_params()
        if isinstance(params, Sequence):
            if len(params) != num_requests:
                raise VLLMValidationError(f"The lengths of prompts ({num_requests}) "
                                          f"and params ({len(params)}) must be the same.")
            return params
        return [params] * num_requests

    def _check_length(self, ids: list[int]) -> None:
        """The renderer's and the input processor's prompt-length checks."""
        limit = self.model_config.max_model_len
        if not ids:
            raise VLLMValidationError("The decoder prompt cannot be empty")
        if len(ids) > limit:
            raise VLLMValidationError(
                f"This model's maximum context length is {limit} tokens. However, your "
                f"prompt contains {len(ids)} input tokens, which exceeds this limit even "
                f"without any output tokens. Please reduce the length of the input prompt.",
                parameter="input_tokens", value=len(ids))
        if len(ids) == limit:
            raise VLLMValidationError(
                f"The decoder prompt (length {len(ids)}) plus the number of requested output "
                f"tokens (at least 1) is longer than the maximum model length of {limit}. "
                "Make sure that `max_model_len` is no smaller than the number of text tokens "
                "(prompt + requested output tokens).")

    def _run(self, call: control.StandinCall, rendered: Any) -> list[RequestOutput]:
        self.calls.append(call)
        control.write_call(self.standin_config, call, "start")
        try:
            outputs = self._run_engine(call, rendered)
        except Exception as exc:
            call.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            call.finished = time.time()
            control.write_call(self.standin_config, call, "end")
        call.outputs = outputs
        return outputs

    def _run_engine(self, call: control.StandinCall, rendered: Any) -> list[RequestOutput]:
        params = self._params_to_seq(call.sampling_params, len(call.inputs))
        added: list[tuple[str, str, list[int], SamplingParams]] = []
        for i, (text, ids) in enumerate(rendered):  # render + add every request first
            ids = ids if ids is not None else self._tokenizer.encode(text or "")
            self._check_length(ids)
            sp = params[i]
            sp.verify(self.model_config.max_logprobs, self.model_config.get_vocab_size())
            sp.output_kind = RequestOutputKind.FINAL_ONLY
            added.append((str(self.request_counter), text or self._tokenizer.decode(ids),
                          ids, sp))
            self.request_counter += 1
        if self.standin_config.delay_s:
            time.sleep(self.standin_config.delay_s)
        return [self._output(*request) for request in added]

    def _output(self, request_id: str, text: str, ids: list[int], sp: SamplingParams
                ) -> RequestOutput:
        engine = self.engine
        completions = [engine.complete(text, len(ids), sp, index) for index in range(sp.n)]
        prompt_logprobs = (None if sp.prompt_logprobs is None
                           else engine.prompt_logprobs(ids, sp.prompt_logprobs))
        return RequestOutput(request_id, text, ids, prompt_logprobs, completions, True,
                             num_cached_tokens=0)
