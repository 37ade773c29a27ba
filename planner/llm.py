"""The LLM planner: any OpenAI-compatible server picks the next run; the offline planner backs it.

The model sees the claim, the compiled predictions, the last runs and the offline
planner's top candidates with their expected gain and cost, and answers with a JSON
object (`planner/prompt.py`). A reply that is invalid, outside the space or a
duplicate gets one repair round with the error; then the offline choice runs. Every
proposal says which happened: planner = llm | llm-repaired | offline-fallback, the
reason and the study's token count in its rationale (so they land in the log).

    python loop.py --hypothesis h.yaml --llm-base-url http://127.0.0.1:8080/v1 --llm-model m
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from parser.checker import Verdict
from parser.schema import Prediction, ResultRecord
from planner.offline import MIN_GAIN, OfflinePlanner, Proposal
from planner.prompt import ReplyError, build_messages, clean_text, parse_reply, reply_schema, runs_from_reply
from planner.space import Space

CANDIDATES = 5
MAX_REPLY_TOKENS = 300
RETRIES = 2  # the openai client backs off 0.5 s, 1 s (or as Retry-After says) on 429, 5xx, timeouts


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM planner (optional; key from OPENAI_API_KEY)")
    g.add_argument("--llm-base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    g.add_argument("--llm-model", default="default", help="model name on that server")
    g.add_argument("--llm-max-tokens", type=int, default=100_000,
                   help="tokens for the whole study; past it the offline planner takes over")
    g.add_argument("--llm-timeout", type=float, default=60.0, help="seconds per call")


def make_planner(args, offline: OfflinePlanner, claim: str = ""):
    """The LLM planner when --llm-base-url is given, else the offline planner unchanged."""
    if not getattr(args, "llm_base_url", None):
        return offline
    return LLMPlanner(offline, Chat(args.llm_base_url, args.llm_model, args.llm_timeout),
                      max_tokens=args.llm_max_tokens, claim=claim or _claim_from(args))


def _claim_from(args) -> str:
    """The hypothesis' claim, read again from the file the loop was given (or the run's copy)."""
    from pathlib import Path

    from parser.hypothesis import load_hypothesis

    run_dir = args.resume if isinstance(getattr(args, "resume", None), str) else None
    source = getattr(args, "hypothesis", None) or (run_dir and Path(run_dir) / "hypothesis.yaml")
    try:
        return load_hypothesis(source, getattr(args, "set", [])).claim if source else ""
    except Exception:  # the loop has already loaded it; a claim is only context for the prompt
        return ""


class Unsupported(Exception):
    """The server refused the json_schema response format."""


class Unavailable(Exception):
    """The server cannot be used again in this study (unreachable, refused the key or model)."""


@dataclass
class Chat:
    """One chat completion per call; usage comes back with the text."""

    base_url: str
    model: str
    timeout: float = 60.0
    retries: int = RETRIES

    def __post_init__(self):
        from openai import OpenAI

        self.client = OpenAI(base_url=self.base_url, api_key=os.environ.get("OPENAI_API_KEY") or "none",
                             timeout=self.timeout, max_retries=self.retries)

    def __call__(self, messages: list[dict], response_format: dict) -> tuple[str, int, int]:
        import openai

        try:
            r = self.client.chat.completions.create(model=self.model, messages=messages, temperature=0,
                                                    max_tokens=MAX_REPLY_TOKENS, response_format=response_format)
        except (openai.BadRequestError, openai.UnprocessableEntityError, openai.InternalServerError) as e:
            # llama-cpp-python answers 500 ("Input should be 'text' or 'json_object'"), others 400 or 422
            if response_format != {"type": "json_object"} and _about_format(e):
                raise Unsupported(str(e)) from None
            raise
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as e:
            raise Unavailable(f"{type(e).__name__}: {clean_text(e, 160)}") from None
        except openai.APITimeoutError:
            raise  # slow this time; the next proposal tries again
        except openai.APIConnectionError as e:
            raise Unavailable(f"server unreachable at {self.base_url} ({clean_text(e, 120)})") from None
        text = r.choices[0].message.content if r.choices else ""
        usage = r.usage
        if usage is None:  # some servers leave it out: ~4 characters a token
            return text or "", sum(len(m["content"]) for m in messages) // 4, len(text or "") // 4
        return text or "", usage.prompt_tokens or 0, usage.completion_tokens or 0


def _about_format(e: Exception) -> bool:
    text = str(e).lower()
    return "response_format" in text or "json_schema" in text or "schema" in text


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class LLMPlanner:
    offline: OfflinePlanner
    chat: object  # Chat, or anything called the same way
    max_tokens: int = 100_000
    claim: str = ""
    usage: Usage = field(default_factory=Usage)
    # json_schema; else llama.cpp's json_object with a schema (grammar-constrained, so even
    # a small model's reply has the right shape); else plain json_object. Each refusal is
    # remembered: later calls start where the server said yes.
    mode: str = "json_schema"
    disabled: str = ""  # why the LLM is out for the rest of the study
    counts: dict = field(default_factory=lambda: {"llm": 0, "llm-repaired": 0, "offline-fallback": 0})

    @property
    def name(self) -> str:
        return "llm"

    def propose(self, predictions: list[Prediction], verdicts: dict[str, Verdict],
                records: list[ResultRecord], space: Space) -> Proposal | None:
        fallback = self.offline.propose(predictions, verdicts, records, space)
        if fallback is None or "pair" in fallback.extra:
            return fallback  # nothing worth running, or a half-done pair to finish: no choice to make
        if self.disabled:
            return self._fallback(fallback, self.disabled)
        if self.usage.total >= self.max_tokens:
            self.disabled = f"token budget spent ({self.usage.total} of {self.max_tokens})"
            return self._fallback(fallback, self.disabled)
        by_id = {p.id: p for p in predictions}
        open_ = [p for p in predictions if not verdicts[p.id].decided]
        candidates = [c for c in self.offline.rank(open_, by_id, records, space) if c.gain >= MIN_GAIN][:CANDIDATES]
        claim = self.claim or _claim(predictions)
        messages = build_messages(claim, predictions, verdicts, records, candidates, space)
        ids = [p.id for p in open_]
        schema = {"object": reply_schema(space, len(candidates), ids),
                  "grammar": reply_schema(space, len(candidates), ids, grammar=True)}
        error = ""
        for attempt in range(2):  # the first answer, then one repair round
            try:
                text = self._ask(messages, schema)
            except Exception as e:  # a failing server never stops the study
                return self._fallback(fallback, self._failure(e))
            try:
                reply = parse_reply(text)
                runs, targets, what = runs_from_reply(reply, candidates, open_, by_id, records, space)
            except ReplyError as e:
                error = str(e)
                messages = messages + [{"role": "assistant", "content": clean_text(text, 1000)},
                                       {"role": "user", "content": f"{error}\nReply again with one valid JSON object."}]
                continue
            return self._accepted(runs, targets, reply.rationale, what, error if attempt else "")
        return self._fallback(fallback, f"invalid after one repair: {error}")

    def _ask(self, messages: list[dict], schema: dict[str, dict]) -> str:
        while True:
            fmt = {"json_schema": {"type": "json_schema",
                                   "json_schema": {"name": "proposal", "schema": schema["object"], "strict": True}},
                   "json_object_schema": {"type": "json_object", "schema": schema["grammar"]},
                   "json_object": {"type": "json_object"}}[self.mode]
            try:
                text, prompt, completion = self.chat(messages, fmt)
            except Unsupported:
                self.mode = "json_object_schema" if self.mode == "json_schema" else "json_object"
                continue
            self.usage.calls += 1
            self.usage.prompt_tokens += prompt
            self.usage.completion_tokens += completion
            return text

    def _failure(self, e: Exception) -> str:
        if isinstance(e, Unavailable):
            self.disabled = f"LLM off for the rest of the study: {e}"
            return self.disabled
        return f"{type(e).__name__}: {clean_text(e, 160)}"

    def _info(self, status: str, reason: str) -> dict:
        self.counts[status] += 1
        return {"status": status, "reason": reason, "mode": self.mode, "calls": self.usage.calls,
                "prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens,
                "total_tokens": self.usage.total, "counts": dict(self.counts)}

    def _tokens(self) -> str:
        return f"tokens {self.usage.total} in {self.usage.calls} calls"

    def _accepted(self, runs, targets, rationale, what, repaired) -> Proposal:
        status = "llm-repaired" if repaired else "llm"
        why = clean_text(rationale) or "(no rationale)"
        note = f"[llm {what}" + (f", repaired after: {clean_text(repaired, 160)}" if repaired else "")
        return Proposal(runs, targets, f"{why} {note}; {self._tokens()}]", status,
                        {"llm": self._info(status, repaired)})

    def _fallback(self, offline: Proposal, reason: str) -> Proposal:
        reason = clean_text(reason, 300)
        return Proposal(offline.runs, offline.targets,
                        f"{offline.rationale} [offline fallback: {reason}; {self._tokens()}]", "offline-fallback",
                        dict(offline.extra, llm=self._info("offline-fallback", reason)))


def _claim(predictions: list[Prediction]) -> str:
    return "; ".join(p.text for p in predictions[:3])
