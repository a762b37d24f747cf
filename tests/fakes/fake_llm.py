"""A fake OpenAI-compatible chat completions server on loopback, scripted per test."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class FakeReply:
    """One scripted answer. `content` is the assistant message text; `raw_body` replaces the whole body."""

    content: str | None = None
    status: int = 200
    delay: float = 0.0
    refusal: str | None = None
    finish_reason: str = "stop"
    error_message: str = "scripted error"
    raw_body: str | None = None
    media_type: str = "application/json"  # of a raw_body (a proxy's error page is text/html)
    prompt_tokens: int = 100
    completion_tokens: int = 40


def answer(candidate_id: str, explanation: str, summary: str, question: str = "", **reply: Any) -> FakeReply:
    """A reply whose content is the JSON answer with the four fields."""
    content = json.dumps(
        {
            "selected_candidate_id": candidate_id,
            "explanation": explanation,
            "notification_summary": summary,
            "ask_user_question": question,
        },
        ensure_ascii=False,
    )
    return FakeReply(content=content, **reply)


def offered_ids(body: dict[str, Any]) -> list[str]:
    """The candidate ids a request offers: the schema enum, else the ids in the candidate lines."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return list(fmt["json_schema"]["schema"]["properties"]["selected_candidate_id"]["enum"])
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return re.findall(r'\{"id":"([^"]+)"', user)


def first_candidate(body: dict[str, Any]) -> FakeReply:
    """A well-behaved model: picks the first offered candidate and explains it without times or dates; when
    the decision is to ask the user, it also asks the question."""
    system = body["messages"][0]["content"]
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    zh = re.search(r"[\u4e00-\u9fff]", system) is not None
    asking = re.search(r"^(Decision|决策)[:：] ?ask_user", user, re.MULTILINE) is not None
    ids = offered_ids(body)
    if zh:
        question = "请告诉我是哪一段没做完。" if asking else ""
        return answer(ids[0], "这个方案在截止前留出了足够的时间，改动最小。", "已为你安排好时间。", question)
    question = "Which block did you not finish?" if asking else ""
    return answer(
        ids[0],
        "This option leaves enough time before the deadline and moves the least.",
        "Time found.",
        question,
    )


@dataclass
class FakeLLM:
    """Serves POST /v1/chat/completions from a queue of replies (then `default`, or `responder`)."""

    model: str = "fake-model"
    reject_json_schema: bool = False
    # parameters refused like OpenAI's reasoning models refuse them, e.g. {"max_tokens", "temperature"}
    reject_params: frozenset[str] = frozenset()
    default: FakeReply = field(default_factory=lambda: FakeReply(content="{}"))
    responder: Callable[[dict[str, Any]], FakeReply] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    _queue: deque[FakeReply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _port: int = 0

    def reply(self, *replies: FakeReply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def _next(self, body: dict[str, Any]) -> FakeReply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.responder(body) if self.responder else self.default

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
        fmt = (body.get("response_format") or {}).get("type")
        if self.reject_json_schema and fmt == "json_schema":
            # What DeepSeek-style providers answer to structured outputs they do not support.
            return _error(400, "This response_format type is unavailable now", "invalid_request_error")
        for param in sorted(self.reject_params & body.keys()):
            message = f"Unsupported parameter: '{param}' is not supported with this model."
            return _error(400, message, "unsupported_parameter", param)
        reply = self._next(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw_body is not None:
            return Response(reply.raw_body, status_code=reply.status, media_type=reply.media_type)
        if reply.status == 429:
            return _error(429, "Rate limit reached for requests", "rate_limit_exceeded")
        if reply.status >= 400:
            return _error(reply.status, reply.error_message, "server_error")
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
                "usage": {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            }
        )

    def start(self) -> FakeLLM:
        app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(status: int, message: str, code: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}},
        status_code=status,
    )
