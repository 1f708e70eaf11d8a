# Stand-in for vLLM 0.34.0 `vllm/__init__.py` (NOT vLLM; see ../README.md): the same lazy
# top-level names (`vllm.LLM`, `vllm.SamplingParams`, ...) for the offline entry point.
"""A stand-in for vLLM's offline engine, for tests on machines without a GPU. NOT vLLM."""

import typing

__version__ = "0.34.0"
__version_tuple__ = (0, 34, 0)
STANDIN = True  # real vLLM has no such attribute

MODULE_ATTRS = {
    "LLM": ".entrypoints.llm:LLM",
    "TextPrompt": ".inputs:TextPrompt",
    "TokensPrompt": ".inputs:TokensPrompt",
    "SamplingParams": ".sampling_params:SamplingParams",
    "CompletionOutput": ".outputs:CompletionOutput",
    "RequestOutput": ".outputs:RequestOutput",
}

if typing.TYPE_CHECKING:
    from vllm.entrypoints.llm import LLM
    from vllm.inputs import TextPrompt, TokensPrompt
    from vllm.outputs import CompletionOutput, RequestOutput
    from vllm.sampling_params import SamplingParams
else:

    def __getattr__(name: str) -> typing.Any:
        from importlib import import_module

        if name in MODULE_ATTRS:
            module_name, attr_name = MODULE_ATTRS[name].split(":")
            module = import_module(module_name, __package__)
            return getattr(module, attr_name)
        raise AttributeError(f"module {__package__} has no attribute {name}")


__all__ = ["__version__", "__version_tuple__", "LLM", "TextPrompt", "TokensPrompt",
           "SamplingParams", "RequestOutput", "CompletionOutput"]
