"""Retrieval metrics of BM25, the base bi-encoder and distilled models (saved by
``enrich eval run cranfield_retrieval [--retriever-model DIR]``)."""

import pandas as pd
import streamlit as st

from enrich.evaluate import charts
from enrich.evaluate.bootstrap import format_estimate
from enrich.evaluate.dashboard_ui import results_dir, show_chart
from enrich.evaluate.results import load_results

st.title("Retrieval")
folder = results_dir()
results = [r for r in load_results(folder) if r.kind == "retrieval"]
if not results:
    st.info(f"No retrieval results in `{folder}`: run `enrich eval run cranfield_retrieval` "
            "(add `--retriever-model DIR` for a distilled model).")
    st.stop()
suites = sorted({r.suite for r in results})
suite = st.selectbox("suite", suites)
latest = {r.system: r for r in results if r.suite == suite}  # newest result per system wins
rows = [{"system": name, "model": r.provenance.get("model"), "evaluated": r.created_at,
         **{m: format_estimate(e) for m, e in r.metrics.items()}} for name, r in latest.items()]
st.dataframe(pd.DataFrame(rows), hide_index=True)
show_chart(charts.metrics_chart(charts.estimates_frame(
    {name: r.metrics for name, r in latest.items()})))
license_text = next(iter(latest.values())).provenance.get("license")
if license_text:
    st.caption(f"golden data: {license_text}")
