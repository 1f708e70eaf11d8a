"""A stand-in for OpenAI's Batch API (files + batches), for tests of ``enrich batch submit |
status | fetch`` with the real ``openai`` SDK as the client.

The shapes follow OpenAI's API reference as the SDK models them (``openai.types.FileObject``,
``openai.types.Batch``, ``SyncCursorPage``): ``POST /v1/files`` (multipart, ``purpose``),
``GET /v1/files/{id}/content``, ``POST /v1/batches`` (``input_file_id``, ``endpoint``,
``completion_window``, ``metadata``), ``GET /v1/batches/{id}`` and ``GET /v1/batches``
(newest first, ``limit``/``after`` cursor). A batch's requests are answered by the test
server's batch mode (:func:`enrich.testing.fake_batch.run_batch`, flavour ``openai``): answers
and HTTP errors in the output file, lines that never ran in the error file
(``batch_expired``).

Example:
    >>> with FakeBatchApi(api_key="sk-test") as api:                   # doctest: +SKIP
    ...     openai.OpenAI(api_key="sk-test", base_url=api.url).batches.list()
"""

import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from enrich.testing.fake_batch import run_batch
from enrich.testing.fake_server_config import FakeServerConfig


class FakeBatchApi:
    """The Batch API in a background thread.

    Args:
        api_key: the bearer token it accepts (anything else: 401).
        expire: 1-based request lines of every batch that never run (error file).
        polls_before_done: how many times a batch is reported ``in_progress`` before it is
            answered (0: answered when created).
        config: the chat server's configuration behind the batches.
    """

    def __init__(self, api_key: str = "sk-test", *, expire: set[int] | None = None,
                 polls_before_done: int = 0, config: FakeServerConfig | None = None):
        self.api_key = api_key
        self.expire = expire or set()
        self.polls_before_done = polls_before_done
        self.config = config
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._folder = Path(tempfile.mkdtemp(prefix="enrich-fake-batch-api-"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL to give the SDK, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- the API --------------------------------------------------------------------------
    def _app(self) -> web.Application:
        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return _error(401, "Incorrect API key provided.", "invalid_api_key")
            return await handler(request)

        app = web.Application(middlewares=[auth], client_max_size=256 << 20)
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}/content", self._content)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches/{id}", self._retrieve)
        app.router.add_get("/v1/batches", self._list)
        return app

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, web.FileField) or purpose != "batch":
            return _error(400, "a file and purpose=batch are required", "invalid_request")
        data = upload.file.read()
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        self.contents[file_id] = data
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(data),
                               "created_at": int(time.time()), "filename": upload.filename,
                               "purpose": "batch", "status": "processed"}
        return web.json_response(self.files[file_id])

    async def _content(self, request: web.Request) -> web.Response:
        data = self.contents.get(request.match_info["id"])
        if data is None:
            return _error(404, "No such File object", "not_found")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("input_file_id") not in self.files:
            return _error(400, f"Invalid input file: {body.get('input_file_id')}",
                          "invalid_request")
        if body.get("endpoint") != "/v1/chat/completions" or \
                body.get("completion_window") != "24h":
            return _error(400, "endpoint must be /v1/chat/completions and completion_window "
                               "24h", "invalid_request")
        batch_id = f"batch_{uuid.uuid4().hex[:24]}"
        lines = self.contents[body["input_file_id"]].count(b"\n")
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"], "completion_window": "24h",
            "status": "in_progress", "created_at": int(time.time()) + len(self.batches),
            "metadata": body.get("metadata"), "output_file_id": None, "error_file_id": None,
            "errors": None, "request_counts": {"total": lines, "completed": 0, "failed": 0}}
        self._polls[batch_id] = self.polls_before_done
        if not self.polls_before_done:
            await self._answer(batch_id)
        return web.json_response(self.batches[batch_id])

    async def _retrieve(self, request: web.Request) -> web.Response:
        batch_id = request.match_info["id"]
        if batch_id not in self.batches:
            return _error(404, f"No batch found with id '{batch_id}'.", "not_found")
        await self._poll(batch_id)
        return web.json_response(self.batches[batch_id])

    async def _list(self, request: web.Request) -> web.Response:
        newest = sorted(self.batches.values(), key=lambda b: -b["created_at"])
        after = request.query.get("after")
        if after:
            ids = [b["id"] for b in newest]
            newest = newest[ids.index(after) + 1:] if after in ids else []
        page = newest[:int(request.query.get("limit", "20"))]
        for batch in page:
            await self._poll(batch["id"])
        return web.json_response({"object": "list", "data": page,
                                  "first_id": page[0]["id"] if page else None,
                                  "last_id": page[-1]["id"] if page else None,
                                  "has_more": len(newest) > len(page)})

    async def _poll(self, batch_id: str) -> None:
        if self.batches[batch_id]["status"] != "in_progress":
            return
        if self._polls[batch_id] > 0:
            self._polls[batch_id] -= 1
            return
        await self._answer(batch_id)

    async def _answer(self, batch_id: str) -> None:
        """Run the batch's requests and attach its output and error files."""
        batch = self.batches[batch_id]
        requests = self._folder / f"{batch_id}.requests.jsonl"
        requests.write_bytes(self.contents[batch["input_file_id"]])
        output, errors = (self._folder / f"{batch_id}.{part}.jsonl"
                          for part in ("output", "errors"))
        await asyncio.to_thread(run_batch, requests, output, flavour="openai", errors=errors,
                                expire=self.expire, config=self.config)
        for path, key in ((output, "output_file_id"), (errors, "error_file_id")):
            data = path.read_bytes()
            if data:
                file_id = f"file-{uuid.uuid4().hex[:24]}"
                self.contents[file_id] = data
                batch[key] = file_id
        answered = self.contents[batch["output_file_id"]].count(b"\n") \
            if batch["output_file_id"] else 0
        batch.update(status="completed", completed_at=int(time.time()))
        batch["request_counts"].update(completed=answered,
                                       failed=batch["request_counts"]["total"] - answered)

    # -- the thread -----------------------------------------------------------------------
    def __enter__(self) -> "FakeBatchApi":
        self._thread = threading.Thread(target=self._serve, name="enrich-fake-batch-api",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the fake Batch API did not start within 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                        "param": None, "code": code}}, status=status)
