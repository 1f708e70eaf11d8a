"""enrich: batch LLM enrichment for search and recommendation.

Versioned prompts run over catalogues and query logs against an LLM (embedded llama.cpp by
default, any OpenAI-compatible server such as vLLM in production); every result lands in DuckDB
with its provenance, ready to distil into bi- and cross-encoders and to evaluate.

Heavy modules (llama_cpp, torch, sentence-transformers) are imported lazily by the commands
that need them, so ``import enrich`` and ``enrich --help`` stay fast.
"""

__version__ = "0.1.0"
