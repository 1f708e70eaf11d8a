"""Prompt versions side by side: the text diff, and two runs' metrics and changed rows."""

import orjson
import streamlit as st

from enrich.evaluate.agreement import compare_runs, numeric_input_columns
from enrich.evaluate.compare import prompt_text_diff
from enrich.evaluate.dashboard_ui import guarded, pick_run, store
from enrich.evaluate.report import comparison_table
from enrich.evaluate.suites import HumanLabels
from enrich.prompts import PromptFile

st.title("Prompt versions")
data = store()
names = guarded(data.prompt_names)
if not names:
    st.info("No prompt has run yet.")
    st.stop()
name = st.selectbox("prompt", names)
versions = guarded(data.prompt_versions, name)
st.dataframe(versions[["version", "first_seen", "runs"]], hide_index=True)
order = versions["version"].tolist()
left, right = st.columns(2)
version_a = left.selectbox("version A", order, index=max(0, len(order) - 2))
version_b = right.selectbox("version B", order, index=len(order) - 1)
prompts = {v: PromptFile.model_validate(orjson.loads(c))
           for v, c in zip(versions["version"], versions["content"], strict=True)}
st.subheader("Text diff")
st.code(prompt_text_diff(prompts[version_a], prompts[version_b]) or "no differences",
        language="diff")
st.subheader("Runs side by side")
with left:
    run_a = pick_run(guarded(data.runs_of, name, version_a), "run of A", key="run_a")
with right:
    run_b = pick_run(guarded(data.runs_of, name, version_b), "run of B", key="run_b")
if run_a is None or run_b is None:
    st.stop()
columns = numeric_input_columns(guarded(data.run_inputs, run_a))
if not columns:
    st.info("These rows carry no human rating column; compare them with "
            "`enrich eval compare` on a suite.")
    st.stop()
column = st.selectbox("human rating column", columns,
                      index=columns.index("relevance") if "relevance" in columns else 0)
inputs = guarded(data.run_inputs, run_a)
group = "query" if "query" in inputs.columns and inputs["query"].nunique() < len(inputs) else None
comparison = guarded(compare_runs, data, run_a, run_b,
                     HumanLabels(column=column, group_column=group))
st.dataframe(comparison_table(comparison), hide_index=True)
model = comparison.b.provenance.get("model")
st.caption(f"B − A with a paired bootstrap 95% interval · model {model}")
st.subheader(f"Rows whose output changed ({len(comparison.changed)})")
st.dataframe(comparison.changed, hide_index=True)
