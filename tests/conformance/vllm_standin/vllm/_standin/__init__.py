"""Machinery of the stand-in `vllm` package (tokenizer, fake generator, call records).

Not part of vLLM: real vLLM has no `vllm._standin`. See ../../README.md.
"""
