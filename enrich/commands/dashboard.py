"""``enrich dashboard``: the local quality dashboard (Streamlit), reading the store read-only."""

from pathlib import Path
from typing import Annotated

import typer


def dashboard(
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB file [env: ENRICH_DB; "
                                                         "default: enrich.duckdb]")] = None,
    results: Annotated[Path | None, typer.Option(
        "--results", help="Evaluation results folder [default: eval/results]")] = None,
    port: Annotated[int, typer.Option(help="Port to serve on")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open/--no-open",
                                               help="Open a browser tab")] = False,
) -> None:
    """Runs over time, an output browser, agreement with human labels, prompt version
    comparison and retrieval metrics, at http://ADDRESS:PORT. Stop with Ctrl-C."""
    import os
    import sys

    from enrich.dashboard import app_path
    from enrich.errors import ConfigError
    from enrich.optional import require
    from enrich.settings import EnrichSettings

    require("dashboard", "enrich dashboard")
    script = app_path()
    if not script.is_file():
        raise ConfigError(f"dashboard app not found at {script}: the enrich install is "
                          "incomplete", "reinstall it: pip install --force-reinstall "
                          "'enrich[dashboard]'")
    store = (db or EnrichSettings().db).resolve()
    if not store.exists():
        raise ConfigError(f"no store at {store}", "run a job first, or pass --db PATH")
    env = {**os.environ, "ENRICH_DB": str(store)}
    if results:
        env["ENRICH_EVAL_RESULTS"] = str(results.resolve())
    command = [sys.executable, "-m", "streamlit", "run", str(script),
               "--server.port", str(port), "--server.address", address,
               "--server.headless", str(not open_browser).lower(),
               "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
               "--client.toolbarMode", "viewer"]
    typer.echo(f"dashboard for {store} at http://{address}:{port} (Ctrl-C stops it)")
    sys.stdout.flush()
    # become the Streamlit server (same PID): stopping this process stops the server
    os.execve(sys.executable, command, env)
