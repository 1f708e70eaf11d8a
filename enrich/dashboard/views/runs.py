"""Runs over time: rows, failures, tokens and throughput of every run in the store."""

import streamlit as st

from enrich.evaluate import charts
from enrich.evaluate.dashboard_ui import guarded, show_chart, store

st.title("Runs")
data = store()
runs = guarded(data.runs)
if runs.empty:
    st.info("No runs yet: run a job (`enrich run jobs/...`) or a suite (`enrich eval run`).")
    st.stop()
jobs = sorted(runs["job_name"].unique())
chosen = st.multiselect("jobs", jobs, default=jobs)
shown = runs[runs["job_name"].isin(chosen)]
total = shown[["ok", "cached", "failed", "tokens_in", "tokens_out"]].sum()
cols = st.columns(5)
for col, (name, value) in zip(cols, total.items(), strict=True):
    col.metric(str(name), f"{int(value):,}")
st.subheader("Run table")
st.dataframe(shown[["run_id", "job_name", "task", "status", "model", "prompt_name",
                    "prompt_version", "rows_total", "ok", "cached", "failed", "tokens_in",
                    "tokens_out", "wall_s", "rows_per_s", "started_at"]], hide_index=True)
st.markdown("**Latest run:** `" + str(shown.iloc[0]["run_id"]) + "` · "
            + str(shown.iloc[0]["job_name"]) + " · " + str(shown.iloc[0]["status"])
            if not shown.empty else "")
frame = shown.assign(rows=shown["ok"] + shown["cached"] + shown["failed"],
                     tokens=shown["tokens_in"] + shown["tokens_out"])
left, right = st.columns(2)
with left:
    show_chart(charts.runs_over_time_chart(frame, "rows", "rows per run"))
    show_chart(charts.runs_over_time_chart(frame, "tokens", "tokens per run"))
with right:
    show_chart(charts.runs_over_time_chart(frame, "failed", "failed rows per run"))
    show_chart(charts.runs_over_time_chart(frame, "rows_per_s", "throughput (rows/s)"))
