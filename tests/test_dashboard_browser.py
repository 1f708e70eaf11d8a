"""The dashboard as a person meets it: `enrich dashboard` serves, headless Chromium opens it,
the run table shows, and a screenshot is taken (slow; needs Debian's `chromium`).

Chromium is installed by `tests/setup_chromium.sh`; without it the test is skipped with the
reason. Chromium is driven over the DevTools protocol (aiohttp websocket): the page is a
Streamlit app that renders after its websocket connects, so a plain `--screenshot` would catch
an empty page.
"""

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_dashboard import fixture_store  # noqa: F401 - the shared store fixture

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--window-size=1400,1000"]
SETUP = Path(__file__).resolve().parent / "setup_chromium.sh"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


async def _devtools(debug_port: int, url: str, expect: list[str], timeout: float
                    ) -> tuple[str, bytes]:
    """Open ``url``, wait until the page text holds every ``expect`` string; (text, PNG)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{debug_port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t.get("type") == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            counter = 0

            async def call(method: str, **params: object) -> dict:
                nonlocal counter
                counter += 1
                await ws.send_json({"id": counter, "method": method, "params": params})
                while True:
                    message = await ws.receive_json(timeout=30)
                    if message.get("id") == counter:
                        return message.get("result", {})

            await call("Page.enable")
            await call("Page.navigate", url=url)
            deadline, text = time.monotonic() + timeout, ""
            script = ("document.body.innerText + (document.querySelector("
                      "'[data-testid=\"stDataFrame\"]') ? '\\n[stDataFrame]' : '')")
            while time.monotonic() < deadline:
                result = await call("Runtime.evaluate", expression=script)
                text = result.get("result", {}).get("value", "") or ""
                if all(e in text for e in expect):
                    break
                await asyncio.sleep(1)
            await asyncio.sleep(1)  # let charts finish drawing
            shot = await call("Page.captureScreenshot", format="png")
            return text, base64.b64decode(shot.get("data", ""))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dashboard_in_headless_chromium(fixture_store, tmp_path: Path) -> None:  # noqa: F811
    if _chromium() is None and SETUP.is_file():
        subprocess.run(["bash", str(SETUP)], capture_output=True, timeout=600)
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed and tests/setup_chromium.sh could not install "
                    "it (needs root and Debian's package archive)")
    db, results = fixture_store
    port, debug_port = _free_port(), _free_port()
    env = {**os.environ, "ENRICH_EVAL_RESULTS": str(results)}
    server = subprocess.Popen([sys.executable, "-m", "enrich.cli", "dashboard", "--db", str(db),
                               "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    chrome = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 90)
        chrome = subprocess.Popen([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                   f"--remote-debugging-port={debug_port}", "about:blank"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_http(f"http://127.0.0.1:{debug_port}/json/version", 60)
        text, png = asyncio.run(_devtools(debug_port, f"http://127.0.0.1:{port}/",
                                          ["Run table", "[stDataFrame]", "Latest run"], 120))
    finally:
        for process in (chrome, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(profile, ignore_errors=True)
    shot = tmp_path / "dashboard.png"
    shot.write_bytes(png)
    assert png.startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    assert "Run table" in text and "[stDataFrame]" in text, text[:500]
    assert "eval-judge_suite" in text  # the latest run's job, printed under the table
