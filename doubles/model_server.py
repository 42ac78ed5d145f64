"""A fake OpenAI-compatible model server, good enough for the `openai` client.

Point a client at it with ``OpenAI(base_url=model.base_url, api_key="k")``.  It serves
``POST /v1/chat/completions`` (plain and streamed, with tool calls and usage),
``POST /v1/embeddings`` and ``GET /v1/models``.  Answers are deterministic: scripted
`Reply` objects queued with `enqueue()` are used first, then `responder(request)`.
Embeddings hash words into buckets (`embed`) unless an `embedder` (a function of the texts) serves a real model.

Token counting (documented so tests can assert exact numbers):

* ``count_tokens(text) = ceil(len(text) / 4)``, at least 1 for non-empty text, 0 for "";
* ``prompt_tokens`` = sum over messages of ``count_tokens(content) + 3`` (list contents
  are their text parts joined with newlines);
* reasoning models (``gpt-5*``, ``o1``/``o3``/``o4-mini``...) get a 400, as from OpenAI, for ``max_tokens`` or a
  ``temperature`` other than 1 (`reasoning_model_refusal`);
* ``completion_tokens`` = ``count_tokens(text)`` plus ``count_tokens(arguments)`` of
  each tool call.  With ``max_tokens``/``max_completion_tokens`` the text is cut to
  ``4 * max_tokens`` characters and ``finish_reason`` becomes ``"length"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .http_server import AbortConnection, BackgroundServer, Request, Response, json_response
from .model_rules import reasoning_model_refusal

__all__ = [
    "ModelCall",
    "ModelServer",
    "Reply",
    "content_text",
    "count_tokens",
    "default_responder",
    "embed",
    "split_chunks",
]

Body = dict[str, Any]

CHAT_MODEL = "playground-chat"
EMBEDDING_MODEL = "playground-embedding"
EMBEDDING_DIMENSIONS = 64
WORDS_PER_CHUNK = 3
ARGUMENT_CHUNK_CHARS = 16
TOKENS_PER_MESSAGE = 3
_ERROR_KINDS = {  # status -> (type, code, default message)
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "not_found", "Not found."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
}
_SERVER_ERROR = ("server_error", None, "The server had an error while processing your request.")


def count_tokens(text: str) -> int:
    """Deterministic token estimate: ``ceil(len / 4)``, at least 1 for non-empty text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def content_text(content: Any) -> str:
    """A message ``content`` as a string (text parts of a list joined with newlines)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
    return json.dumps(content)


def split_chunks(text: str, words_per_chunk: int = WORDS_PER_CHUNK) -> list[str]:
    """Split text into pieces of a few words; ``"".join(pieces) == text``."""
    tokens = re.findall(r"\S+\s*|\s+", text)
    return ["".join(tokens[i : i + words_per_chunk]) for i in range(0, len(tokens), words_per_chunk)]


def embed(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A unit vector from hashing lower-cased words into buckets (shared words → higher cosine).

    Text without words maps to the first basis vector.
    """
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "big") % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


@dataclass
class Reply:
    """A scripted answer to one chat completion request."""

    text: str = ""
    tool_calls: list[dict[str, Any]] | None = None  # {"name": str, "arguments": dict | str, "id"?: str}
    status: int = 200
    error: str | None = None  # error message; the status becomes 500 when left at 200
    retry_after: float | None = None  # Retry-After header of an error answer
    cut_after_chunks: int | None = None  # stream: drop the connection after N content chunks
    malformed: bool = False  # stream: send a data line that is not JSON
    finish_reason: str | None = None  # default: "tool_calls" with tool calls, else "stop"
    latency: float | None = None  # overrides the server latency for this answer

    @property
    def is_error(self) -> bool:
        return self.status >= 400 or self.error is not None


def default_responder(request: Body) -> Reply:
    """``Summary: <first 12 words of the last user message>``."""
    messages = request.get("messages") or []
    last_user = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), {})
    words = content_text(last_user.get("content")).split()[:12]
    return Reply(text=f"Summary: {' '.join(words)}")


@dataclass
class ModelCall:
    """One request as the server answered it, recorded before the first byte is sent.

    For streams, `text` and `usage` describe the whole planned answer even when the
    stream is later cut; `in_flight` drops when the stream's connection is done.
    """

    path: str
    body: Body
    status: int
    usage: dict[str, int] | None
    text: str
    at: float


@dataclass
class _Completion:
    """The answer to one chat request, ready to be rendered plain or streamed."""

    id: str
    model: str
    created: int
    text: str
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    usage: dict[str, int]

    def message(self) -> Body:
        message: Body = {"role": "assistant", "content": self.text or None, "refusal": None}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return message

    def as_json(self) -> Body:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_playground",
            "choices": [{"index": 0, "message": self.message(), "logprobs": None, "finish_reason": self.finish_reason}],
            "usage": self.usage,
        }


def _tool_call(call: dict[str, Any], call_id: str) -> Body:
    arguments = call.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    function = {"name": call["name"], "arguments": arguments}
    return {"id": call.get("id") or call_id, "type": "function", "function": function}


def _prompt_tokens(messages: list[Any]) -> int:
    contents = [content_text(m.get("content")) for m in messages if isinstance(m, dict)]
    return sum(count_tokens(content) + TOKENS_PER_MESSAGE for content in contents)


def _error_body(status: int, message: str | None = None, param: str | None = None, code: str | None = None) -> Body:
    kind, default_code, default = _ERROR_KINDS.get(status, _SERVER_ERROR)
    return {"error": {"message": message or default, "type": kind, "param": param, "code": code or default_code}}


def _error_response(status: int, message: str | None = None, retry_after: float | None = None) -> Response:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return json_response(_error_body(status, message), status, headers)


class _ClosingStream:
    """Iterates a chunk generator and runs `on_close` exactly once, however iteration ends."""

    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close: Callable[[], None] | None = on_close

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()  # type: ignore[attr-defined]
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()


class ModelServer(BackgroundServer):
    """A fake OpenAI-compatible API served at ``base_url`` (``.../v1``)."""

    def __init__(
        self,
        port: int = 0,
        latency: float = 0.0,
        token_delay: float = 0.0,
        api_key: str | None = None,
        embedder: Callable[[list[str]], list[list[float]]] | None = None,
    ) -> None:
        super().__init__(port)
        self._defaults = (latency, token_delay)
        self.embedder = embedder
        self.latency = latency
        self.token_delay = token_delay
        self.api_key = api_key
        self.responder: Callable[[Body], Reply | str] = default_responder
        self._replies: deque[Reply] = deque()
        self._in_flight = 0
        self._max_in_flight = 0
        self._ids = 0

    @property
    def base_url(self) -> str:
        """The ``base_url`` for OpenAI clients."""
        return f"{self.root_url}/v1"

    # -- scripting ---------------------------------------------------------------------

    def enqueue(self, *replies: Reply | str) -> None:
        """Queue answers for the next chat requests, consumed in order (str = text reply)."""
        with self._lock:
            self._replies.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def fail(
        self, status: int = 500, times: int = 1, retry_after: float | None = None, message: str | None = None
    ) -> None:
        """Queue `times` error answers with an OpenAI error body (and Retry-After when given)."""
        self.enqueue(*(Reply(status=status, error=message, retry_after=retry_after) for _ in range(times)))

    def reset(self) -> None:
        """Forget scripting and the request log: queued replies, responder, latency and
        token_delay return to their initial values; the in-flight peak restarts."""
        with self._lock:
            self._replies.clear()
            self._log.clear()
            self.responder = default_responder
            self.latency, self.token_delay = self._defaults
            self._max_in_flight = self._in_flight

    # -- inspection --------------------------------------------------------------------

    @property
    def requests(self) -> list[ModelCall]:
        """Answered requests, oldest first."""
        return self._log.calls

    def calls_to(self, path_suffix: str) -> list[ModelCall]:
        """Answered requests whose path ends with `path_suffix` (e.g. ``"/chat/completions"``)."""
        return [call for call in self.requests if call.path.endswith(path_suffix)]

    @property
    def in_flight(self) -> int:
        """Chat requests currently being answered."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The peak number of concurrent chat requests."""
        with self._lock:
            return self._max_in_flight

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        try:
            return self._route(request, path)
        except Exception as exc:
            self._record(path, {}, 500, None, "")
            return self.error_response(exc)

    def error_response(self, exc: Exception) -> Response:
        return _error_response(500, f"internal error: {type(exc).__name__}: {exc}")

    def _route(self, request: Request, path: str) -> Response:
        if self.api_key is not None and request.bearer_token != self.api_key:
            return self._answer_error(path, {}, 401)
        if request.method == "GET" and path.endswith("/models"):
            return self._models(path)
        if request.method == "GET" and "/models/" in path:
            return self._model(path)
        if request.method != "POST" or not path.endswith(("/chat/completions", "/embeddings")):
            return self._answer_error(path, {}, 404, f"Unknown endpoint {request.method} {request.path}.")
        try:
            body = request.json()
        except ValueError:
            return self._answer_error(path, {}, 400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return self._answer_error(path, {}, 400, "The request body must be a JSON object.")
        if path.endswith("/embeddings"):
            return self._embeddings(path, body)
        return self._chat(path, body)

    def _record(self, path: str, body: Body, status: int, usage: dict[str, int] | None, text: str) -> None:
        self._log.record(ModelCall(path, body, status, usage, text, time.monotonic()))

    def _answer_error(
        self, path: str, body: Body, status: int, message: str | None = None, retry_after: float | None = None
    ) -> Response:
        self._record(path, body, status, None, "")
        return _error_response(status, message, retry_after)

    # -- models and embeddings ---------------------------------------------------------

    def _models(self, path: str) -> Response:
        self._record(path, {}, 200, None, "")
        return json_response({"object": "list", "data": [_model_card(CHAT_MODEL), _model_card(EMBEDDING_MODEL)]})

    def _model(self, path: str) -> Response:
        self._record(path, {}, 200, None, "")
        return json_response(_model_card(path.rsplit("/", 1)[-1]))

    def _embeddings(self, path: str, body: Body) -> Response:
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts:
            return self._answer_error(path, body, 400, "'input' must be a non-empty string or array.")
        texts = [t if isinstance(t, str) else json.dumps(t) for t in texts]
        dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
        self._pause(self.latency)
        as_base64 = body.get("encoding_format") == "base64"
        served = self.embedder(texts) if self.embedder is not None else None
        data = []
        for index, text in enumerate(texts):
            vector: Any = embed(text, dimensions) if served is None else served[index]
            dimensions = len(vector)
            if as_base64:
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(count_tokens(t) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._record(path, body, 200, usage, "")
        model = body.get("model") or EMBEDDING_MODEL
        return json_response({"object": "list", "data": data, "model": model, "usage": usage})

    # -- chat completions --------------------------------------------------------------

    def _chat(self, path: str, body: Body) -> Response:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._answer_error(path, body, 400, "'messages' must be a non-empty array.")
        if refusal := reasoning_model_refusal(body):
            param, code, message = refusal
            self._record(path, body, 400, None, "")
            return json_response(_error_body(400, message, param, code), 400)
        self._enter()
        streaming = False
        try:
            reply = self._next_reply(body)
            self._pause(self.latency if reply.latency is None else reply.latency)
            if reply.is_error:
                status = reply.status if reply.status >= 400 else 500
                return self._answer_error(path, body, status, reply.error, reply.retry_after)
            completion = self._complete(reply, body)
            self._record(path, body, 200, completion.usage, completion.text)
            if body.get("stream"):
                chunks = _ClosingStream(self._stream(completion, reply, body), self._leave)
                streaming = True  # the stream leaves in-flight when its connection is done with
                return Response(200, chunks, "text/event-stream; charset=utf-8", {"Cache-Control": "no-cache"})
            return json_response(completion.as_json())
        finally:
            if not streaming:
                self._leave()

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self.notify()

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self.notify()

    def _next_reply(self, body: Body) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        answer = self.responder(body)
        return Reply(text=answer) if isinstance(answer, str) else answer

    def _complete(self, reply: Reply, body: Body) -> _Completion:
        with self._lock:
            self._ids += 1
            number = self._ids
        tool_calls = [_tool_call(call, f"call_{number}_{i}") for i, call in enumerate(reply.tool_calls or [])]
        text = reply.text
        finish_reason = reply.finish_reason or ("tool_calls" if tool_calls else "stop")
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        if max_tokens and count_tokens(text) > int(max_tokens):
            text, finish_reason = text[: 4 * int(max_tokens)], "length"
        prompt = _prompt_tokens(body["messages"])
        completion = count_tokens(text) + sum(count_tokens(c["function"]["arguments"]) for c in tool_calls)
        return _Completion(
            id=f"chatcmpl-playground-{number}",
            model=str(body.get("model") or CHAT_MODEL),
            created=int(time.time()),
            text=text,
            tool_calls=tool_calls,
            finish_reason=finish_reason,
            usage={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        )

    def _stream(self, completion: _Completion, reply: Reply, body: Body) -> Iterator[bytes]:
        """Server-sent events for a streamed completion, OpenAI style."""
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        header = {
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": completion.created,
            "model": completion.model,
            "system_fingerprint": "fp_playground",
        }

        def event(choices: list[Body], usage: dict[str, int] | None = None) -> bytes:
            chunk = {**header, "choices": choices, **({"usage": usage} if include_usage else {})}
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        def delta(content: Body, finish_reason: str | None = None) -> bytes:
            return event([{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish_reason}])

        yield delta({"role": "assistant", "content": "", "refusal": None})
        if reply.malformed:
            yield b"data: {this is not json\n\n"
        for piece in split_chunks(completion.text)[: reply.cut_after_chunks]:
            self._pause(self.token_delay)
            yield delta({"content": piece})
        if reply.cut_after_chunks is not None:
            raise AbortConnection
        for index, call in enumerate(completion.tool_calls):
            function = call["function"]
            opening = {"name": function["name"], "arguments": ""}
            yield delta({"tool_calls": [{"index": index, "id": call["id"], "type": "function", "function": opening}]})
            arguments = function["arguments"]
            for start in range(0, len(arguments), ARGUMENT_CHUNK_CHARS):
                self._pause(self.token_delay)
                piece = arguments[start : start + ARGUMENT_CHUNK_CHARS]
                yield delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield delta({}, completion.finish_reason)
        if include_usage:
            yield event([], completion.usage)
        yield b"data: [DONE]\n\n"


def _model_card(model_id: str) -> Body:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "playground"}
