"""Labels vs humans: label distributions, ROC curve, reliability diagram and confusion matrix
of a labelling run against a human rating column of its own source rows."""

import streamlit as st

from enrich.evaluate.agreement import numeric_input_columns, run_agreement
from enrich.evaluate.dashboard_ui import guarded, pick_run, show_result, store
from enrich.evaluate.suites import HumanLabels

st.title("Labels vs human labels")
st.caption("Quality claims hold for the model that produced the labels (shown with each "
           "result); tiny embedded models are near chance as judges.")
data = store()
runs = guarded(data.label_runs)
run_id = pick_run(runs, "labelling run", key="labels_run")
if run_id is None:
    st.stop()
inputs = guarded(data.run_inputs, run_id)
columns = numeric_input_columns(inputs)
if not columns:
    st.warning("The rows of this run carry no numeric human label column; run a labels suite "
               "(`enrich eval run bad_match_homedepot`) to score against a golden set.")
    st.stop()
default = columns.index("relevance") if "relevance" in columns else 0
left, mid, right, last = st.columns(4)
column = left.selectbox("human rating column", columns, index=default)
bad_below = mid.number_input("bad below", value=2.0, step=0.1)
good_from = right.number_input("good from", value=2.5, step=0.1)
resamples = int(last.number_input("bootstrap resamples", value=200, min_value=0, step=100))
groups = [c for c in inputs.columns if c not in (*columns, "row_id")
          and 1 < inputs[c].nunique() < len(inputs)]
group = st.selectbox("resample whole groups of (cluster bootstrap)", ["(single rows)", *groups],
                     index=1 + groups.index("query") if "query" in groups else 0)
human = HumanLabels(column=column, bad_below=bad_below, good_from=good_from,
                    group_column=None if group == "(single rows)" else group)
scored = guarded(run_agreement, data, run_id, human, resamples)
st.caption(f"model {scored.result.provenance.get('model')} · prompt {scored.result.system} · "
           f"{len(scored.frame)} rows with a human rating")
show_result(scored.result)
