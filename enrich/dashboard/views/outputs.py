"""Output browser: a run's rows with filters; one row's prompt, raw response, output, error."""

import streamlit as st

from enrich.evaluate.dashboard_ui import guarded, pick_run, store

st.title("Outputs")
data = store()
runs = guarded(data.runs)
tasks = ["(all)", *sorted(t for t in runs["task"].dropna().unique())] if not runs.empty else []
task = st.selectbox("task", tasks) if tasks else None
if task and task != "(all)":
    runs = runs[runs["task"] == task]
run_id = pick_run(runs, "run", key="outputs_run")
if run_id is None:
    st.stop()
left, right = st.columns([1, 2])
status = left.radio("status", ["all", "ok", "cached", "failed"], horizontal=True)
search = right.text_input("search rows (id, input, output, error)", "")
rows = guarded(data.rows, run_id, status, search.strip())
st.caption(f"{len(rows)} row(s) shown (at most 500)")
table = rows.assign(input=rows["input"].astype(str).str.slice(0, 120),
                    output=rows["output"].astype(str).str.slice(0, 160))
st.dataframe(table[["row_id", "status", "error_kind", "input", "output"]], hide_index=True)
if rows.empty:
    st.stop()
row_id = st.selectbox("row", rows["row_id"].tolist(), key="outputs_row")
detail = guarded(data.row_detail, run_id, str(row_id))
if detail.get("error"):
    st.error(detail["error"])
tabs = st.tabs(["prompt", "raw response", "parsed output", "input row"])
with tabs[0]:
    for message in detail.get("messages") or []:
        st.markdown(f"**{message.get('role')}**")
        st.code(message.get("content", ""), language=None)
    if not detail.get("messages"):
        st.caption("no request stored for this row (it failed before a response)")
with tabs[1]:
    st.code(detail.get("content") or "", language="json")
    if detail.get("response") is not None:
        st.json(detail["response"], expanded=False)
with tabs[2]:
    st.json(detail.get("output") or {})
    if detail.get("prompt_tokens") is not None:
        st.caption(f"tokens {detail['prompt_tokens']}/{detail['completion_tokens']} · "
                   f"{detail.get('latency_ms') or 0:.0f} ms · finish {detail.get('finish_reason')}"
                   f" · cached {detail.get('cached')}")
with tabs[3]:
    st.json(detail.get("input") or {})
