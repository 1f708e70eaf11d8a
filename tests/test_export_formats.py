"""Exports every reader understands, and token totals that agree wherever they are shown.

- JSON columns (``input``, ``output``, ``params``) are JSON text in a plain string column in
  Parquet and CSV, and nested objects in JSONL; whatever the stored JSON holds (unicode,
  quotes, newlines, nesting), each format gives back the same value.
- ``enrich status`` and the summary of ``enrich run`` show the same token totals (the stored
  results); what failed attempts cost is reported apart, and the two add up to every token the
  server billed.
"""

import csv
import json
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import movies_job, run_cli_process, summary_number

from enrich.export import export_run
from enrich.store import Store
from enrich.testing.chat_wire import prompt_token_count
from enrich.testing.fake_server import FakeServer, FakeServerConfig, FaultRates

WIDE = {"COLUMNS": "160"}  # the run summary on one line per counter
SEED = 1  # the fault draws of this seed give the 50% case both kinds of rows (checked below)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=30)
    | st.floats(allow_nan=False, allow_infinity=False, width=32),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
OBJECTS = st.dictionaries(st.text(min_size=1, max_size=10), JSON_VALUES, min_size=1, max_size=5)


def _store_run(store: Store, row_input: dict[str, Any], output: dict[str, Any],
               params: dict[str, Any]) -> str:
    """A finished one-row run whose stored input, output and params are the given JSON."""
    run_id, key = f"run-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    store.sql("INSERT INTO runs (run_id, job_name, fingerprint, prompt_name, prompt_version, "
              "schema_name, backend, model, params, status, started_at, rows_total) VALUES "
              "(?, 'props', 'f', 'p', 'v1', 'S', 'openai', 'm', ?, 'finished', now(), 1)",
              [run_id, json.dumps(params)])
    store.sql("INSERT INTO requests (key, run_id, row_id, prompt_name, prompt_version, model, "
              "backend, params, output, prompt_tokens, completion_tokens, latency_ms, "
              "created_at, key_hash) VALUES (?, ?, 'r1', 'p', 'v1', 'm', 'openai', ?, ?, 3, 4, "
              "1.5, now(), 0)",
              [key, run_id, json.dumps(params), json.dumps(output)])
    store.sql("INSERT INTO outputs (run_id, row_id, key, cached, input, created_at) VALUES "
              "(?, 'r1', ?, false, ?, now())", [run_id, key, json.dumps(row_input)])
    return run_id


@pytest.fixture(scope="module")
def open_store(tmp_path_factory: pytest.TempPathFactory):
    """One store for every generated example (each adds its own run)."""
    with Store(tmp_path_factory.mktemp("exports") / "e.duckdb") as store:
        yield store


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row_input=OBJECTS, output=OBJECTS, params=OBJECTS)
def test_json_columns_round_trip_as_text_in_every_format(
        row_input: dict, output: dict, params: dict, open_store: Store) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run_id = _store_run(open_store, row_input, output, params)
        texts = open_store.sql("SELECT o.input::VARCHAR, q.output::VARCHAR, q.params::VARCHAR "
                               "FROM outputs o JOIN requests q USING (key) WHERE o.run_id = ?",
                               [run_id]).fetchone()
        for fmt in ("parquet", "csv", "jsonl"):
            assert export_run(open_store, run_id, out / f"x.{fmt}", fmt) == (run_id, 1)
        stored = {c: json.loads(t) for c, t in zip(("input", "output", "params"), texts,
                                                   strict=True)}
        # read back as another program would
        table = pq.read_table(out / "x.parquet")
        with (out / "x.csv").open(encoding="utf-8", newline="") as fh:
            csv_row = next(csv.DictReader(fh))
        jsonl_row = json.loads((out / "x.jsonl").read_text(encoding="utf-8"))
    for column in ("input", "output", "params"):
        assert str(table.schema.field(column).type) == "string"
        assert json.loads(table.column(column)[0].as_py()) == stored[column]
        assert json.loads(csv_row[column]) == stored[column]
        assert jsonl_row[column] == stored[column]  # nested, not a string, in JSONL
    assert stored["output"] == json.loads(json.dumps(output))


def test_dataframe_libraries_read_json_columns_as_strings(tmp_path: Path) -> None:
    """pandas (and polars, when installed) see text, not bytes, in the JSON columns."""
    pd = pytest.importorskip("pandas")
    with Store(tmp_path / "e.duckdb") as store:
        run_id = _store_run(store, {"title": "Heat"}, {"label": "good", "n": [1, 2]}, {"t": 0})
        export_run(store, run_id, tmp_path / "x.parquet", "parquet")
        export_run(store, run_id, tmp_path / "x.csv", "csv")
    frame = pd.read_parquet(tmp_path / "x.parquet")
    assert isinstance(frame["output"][0], str)
    assert json.loads(frame["output"][0]) == {"label": "good", "n": [1, 2]}
    assert json.loads(pd.read_csv(tmp_path / "x.csv")["input"][0]) == {"title": "Heat"}
    try:
        import polars as pl
    except ImportError:
        return
    for read in (pl.read_parquet, pl.read_csv):
        data = read(tmp_path / ("x.parquet" if read is pl.read_parquet else "x.csv"))
        assert data.schema["output"] == pl.String
        assert json.loads(data["output"][0]) == {"label": "good", "n": [1, 2]}


# --- token totals ----------------------------------------------------------------------------



@pytest.mark.parametrize("invalid", [0.0, 0.5, 1.0])
def test_summary_and_status_show_the_same_tokens_and_failed_attempts_apart(
        invalid: float, project: Path) -> None:
    """The summary's totals equal `enrich status`'s; failed attempts are reported on their own
    line; stored + failed = the prompt tokens of every request the server received."""
    config = FakeServerConfig(models=["test-model"], seed=SEED, record_bodies=1000,
                              faults=FaultRates(invalid_json=invalid))
    with FakeServer(config) as server:
        job = movies_job(project, server.url)
        ran = run_cli_process(["run", str(job), "--db", "e.duckdb", "-q"], project, WIDE)
        billed_in = sum(prompt_token_count(body.get("messages")) for body in server.bodies())
    assert ran.code == 0, ran.stderr
    status = run_cli_process(["status", "--db", "e.duckdb", "--json"], project, WIDE)
    run = json.loads(status.stdout)[0]
    assert summary_number(ran.stdout, "tokens in") == run["tokens_in"]
    assert summary_number(ran.stdout, "tokens out") == run["tokens_out"]
    failed = re.search(r"failed attempts: ([\d,]+) tokens in, ([\d,]+) out", ran.stdout)
    failed_in = int(failed.group(1).replace(",", "")) if failed else 0
    assert run["tokens_in"] + failed_in == billed_in
    if invalid == 0.0:
        assert failed is None and run["failed"] == 0 and run["tokens_in"] > 0
    elif invalid == 1.0:
        assert run["tokens_in"] == 0 and failed_in == billed_in > 0 and run["failed"] == 5
    else:  # some rows repaired or failed, some not: both parts are there
        assert run["tokens_in"] > 0 and failed_in > 0
