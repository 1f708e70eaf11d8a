"""enrich quality dashboard (Streamlit). Start it with ``enrich dashboard [--db PATH]``.

Pages: runs over time, output browser, labels vs human labels, prompt versions side by side,
retrieval metrics of distilled models. The store is opened read-only for every query.
"""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "views"  # not "pages/": no automatic page list

st.set_page_config(page_title="enrich dashboard", layout="wide")
navigation = st.navigation([
    st.Page(PAGES / "runs.py", title="Runs", default=True),
    st.Page(PAGES / "outputs.py", title="Outputs"),
    st.Page(PAGES / "labels.py", title="Labels vs humans"),
    st.Page(PAGES / "versions.py", title="Prompt versions"),
    st.Page(PAGES / "retrieval.py", title="Retrieval"),
])
navigation.run()
