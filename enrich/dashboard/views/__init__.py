"""The dashboard's pages: each file is a Streamlit script that ``app.py`` navigates to."""
