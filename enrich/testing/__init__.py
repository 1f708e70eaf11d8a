"""Test helpers: a fault-injecting OpenAI-compatible server and schema-valid instance generation.

``enrich.testing.fake_server`` (needs aiohttp) serves ``/v1/chat/completions`` answers that are
valid for the request's JSON Schema, with configurable latency and injected faults, for tests and
benchmarks. ``enrich.testing.schema_instances`` generates valid and wrong-shape JSON instances for
a JSON Schema. Import the submodule you need; this package imports nothing heavy.
"""
