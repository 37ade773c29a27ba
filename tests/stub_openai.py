"""A tiny OpenAI-compatible server for tests: POST /v1/chat/completions with scripted replies.

    with StubServer(ok({"candidate": 0}), status(429), ok(...)) as stub:
        planner = LLMPlanner(offline, Chat(stub.url, "stub"))

Each request takes the next scripted reply; when the script runs out, `default` answers.
Replies: ok(obj_or_text), status(code, message), slow(seconds, reply), or a function of the
request body returning one (e.g. `by_task`: a reply per response schema name). `stop_after=N`
closes the listening socket after N requests (later connections are refused).
Every request body is kept in `requests`.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def ok(content, prompt_tokens: int = 100, completion_tokens: int = 20) -> dict:
    text = content if isinstance(content, str) else json.dumps(content)
    return {"code": 200, "body": {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": "stub",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}}}


def status(code: int, message: str = "stub error") -> dict:
    return {"code": code, "body": {"error": {"message": message, "type": "invalid_request_error",
                                             "param": None, "code": None}}}


def slow(seconds: float, reply: dict) -> dict:
    return dict(reply, delay=seconds)


def task_of(body: dict) -> str:
    """Which LLM task a request is: its JSON schema's name (proposal, prediction_spec, evolution,
    narrative), or, in the json_object modes, guessed from the prompt."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["name"]
    system = body["messages"][0]["content"]
    return next((name for word, name in (("translate", "prediction_spec"), ("review", "evolution"),
                                         ("summarise", "narrative")) if word in system), "proposal")


def by_task(**replies):
    """A reply per task (a list is used in turn, its last item repeated); others get an error."""
    queues = {k: list(v) if isinstance(v, list) else [v] for k, v in replies.items()}

    def answer(body):
        queue = queues.get(task_of(body))
        if not queue:
            return status(400, f"no scripted reply for {task_of(body)}")
        return queue.pop(0) if len(queue) > 1 else queue[0]
    return answer


class StubServer:
    def __init__(self, *script: dict, default: dict | None = None, stop_after: int | None = None):
        self.script = list(script)
        self.default = default or ok({"candidate": 0, "config": None, "seed": None, "targets": [],
                                      "rationale": "the top candidate"})
        self.stop_after = stop_after
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.stopped = False

    def __enter__(self) -> "StubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
        self.server.shutdown()
        self.server.server_close()

    def _next(self, body: dict) -> dict:
        with self.lock:
            self.requests.append(body)
            reply = self.script.pop(0) if self.script else self.default
            last = self.stop_after is not None and len(self.requests) >= self.stop_after
        if last:
            threading.Thread(target=self.stop, daemon=True).start()
        return reply(body) if callable(reply) else reply

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith("/chat/completions"):
                    return self._send({"code": 404, "body": {"error": {"message": "not found"}}})
                reply = stub._next(body)
                time.sleep(reply.get("delay", 0))
                self._send(reply)

            def _send(self, reply: dict):
                data = json.dumps(reply["body"]).encode()
                try:
                    self.send_response(reply["code"])
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if reply["code"] == 429:
                        self.send_header("retry-after-ms", "50")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        return Handler
