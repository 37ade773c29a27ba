"""The LLM planner: any OpenAI-compatible server picks the next run; the offline planner backs it.

The model sees the claim, the compiled predictions, the last runs and the offline
planner's top candidates with their expected gain and cost, and answers with a JSON
object (`planner/prompt.py`). A reply that is invalid, outside the space or a
duplicate gets one repair round with the error; then the offline choice runs. Every
proposal says which happened: planner = llm | llm-repaired | offline-fallback, the
reason and the study's token count in its rationale, and as data in
`proposal.llm` (parser.schema.LLMInfo: status accepted | repaired | replaced,
reason, tokens, study_tokens, calls), so they land in the log.

One `Session` (the chat, the token budget, the running totals) serves every LLM task
of a study: planning here, compiling (planner/llm_compile.py), narrating
(planner/llm_narrate.py) and evolution proposals (planner/llm_evolve.py).

    python loop.py --hypothesis h.yaml --llm-base-url http://127.0.0.1:8080/v1 --llm-model m
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, replace

from parser.checker.verdicts import Verdict
from parser.schema import Prediction, ResultRecord
from planner.base import Indexes, Proposal
from planner.offline import MIN_GAIN, OfflinePlanner
from planner.prompt import build_messages, clean_text, parse_reply, reply_schema, runs_from_reply
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


def make_session(args) -> "Session | None":
    """The study's one LLM when --llm-base-url is given, else None (everything stays offline)."""
    if not getattr(args, "llm_base_url", None):
        return None
    return Session(Chat(args.llm_base_url, args.llm_model, args.llm_timeout), max_tokens=args.llm_max_tokens)


def make_planner(args, offline: OfflinePlanner, claim: str = "", session: "Session | None" = None):
    """The LLM planner when --llm-base-url is given, else the offline planner unchanged."""
    session = session or make_session(args)
    if session is None:
        return offline
    return LLMPlanner(offline, session=session, claim=claim or _claim_from(args))


def _claim_from(args) -> str:
    """The hypothesis' claim, read again from the file the loop was given (or the run's copy)."""
    from pathlib import Path

    from parser.hypothesis import load_hypothesis

    run_dir = args.resume if isinstance(getattr(args, "resume", None), str) else None
    source = getattr(args, "hypothesis", None) or (run_dir and Path(run_dir) / "hypothesis.yaml")
    try:
        return load_hypothesis(source, getattr(args, "set", []), builtin=False).claim if source else ""
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

    def __call__(self, messages: list[dict], response_format: dict,
                 max_tokens: int = MAX_REPLY_TOKENS) -> tuple[str, int, int]:
        import openai

        try:
            r = self.client.chat.completions.create(model=self.model, messages=messages, temperature=0,
                                                    max_tokens=max_tokens, response_format=response_format)
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
    earlier: int = 0  # tokens spent in earlier sessions of the study (from the log, on --resume)

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens + self.earlier


STATUS = {"llm": "accepted", "llm-repaired": "repaired", "offline-fallback": "replaced"}


@dataclass
class Session:
    """The study's one LLM: compiling, planning, evolving and narrating share its token
    budget, its running totals and what it learned about the server (reply format, outage)."""

    chat: object  # Chat, or anything called the same way
    max_tokens: int = 100_000
    usage: Usage = field(default_factory=Usage)
    # json_schema; else llama.cpp's json_object with a schema (grammar-constrained, so even
    # a small model's reply has the right shape); else plain json_object. Each refusal is
    # remembered: later calls start where the server said yes.
    mode: str = "json_schema"
    disabled: str = ""  # why the LLM is out for the rest of the study
    taken_up: bool = False

    def take_up(self, tokens: int, calls: int) -> None:
        """Count on from the study's log (once): totals and budget span every session of a resumed study."""
        if not self.taken_up:
            self.usage.earlier, self.usage.calls, self.taken_up = tokens, self.usage.calls + calls, True

    def blocked(self) -> str:
        """Why no call may be made now ('' when one may)."""
        if not self.disabled and self.usage.total >= self.max_tokens:
            self.disabled = f"token budget spent ({self.usage.total} of {self.max_tokens})"
        return self.disabled

    def ask(self, messages: list[dict], schema: dict[str, dict], name: str = "proposal",
            max_tokens: int = MAX_REPLY_TOKENS) -> str:
        """One reply, in the strictest JSON mode the server takes; usage is counted."""
        while True:
            fmt = {"json_schema": {"type": "json_schema",
                                   "json_schema": {"name": name, "schema": schema["object"], "strict": True}},
                   "json_object_schema": {"type": "json_object", "schema": schema["grammar"]},
                   "json_object": {"type": "json_object"}}[self.mode]
            try:
                extra = {} if max_tokens == MAX_REPLY_TOKENS else {"max_tokens": max_tokens}
                text, prompt, completion = self.chat(messages, fmt, **extra)
            except Unsupported:
                self.mode = "json_object_schema" if self.mode == "json_schema" else "json_object"
                continue
            self.usage.calls += 1
            self.usage.prompt_tokens += prompt
            self.usage.completion_tokens += completion
            return text

    def ask_valid(self, messages: list[dict], schema: dict[str, dict], check, name: str = "proposal",
                  max_tokens: int = MAX_REPLY_TOKENS):
        """(value, status, reason, tokens, text): `check(text)` of the first valid reply, with one
        repair round that sends the error back; value None (status 'rejected') when none was valid.
        `check` raises ValueError (ReplyError, PredictionError, pydantic's) for an invalid reply."""
        start, error, text = self.usage.total, "", ""
        for attempt in range(2):
            try:
                text = self.ask(messages, schema, name, max_tokens)
            except Exception as e:  # a failing server never stops the study
                return None, "rejected", self.failure(e), self.usage.total - start, text
            try:
                value = check(text)
            except ValueError as e:
                error = str(e).split("\n", 1)[0]
                messages = messages + [{"role": "assistant", "content": clean_text(text, 1000)},
                                       {"role": "user", "content": f"{error}\nReply again with one valid JSON object."}]
                continue
            return value, "repaired" if attempt else "accepted", error or None, self.usage.total - start, text
        return None, "rejected", f"invalid after one repair: {error}", self.usage.total - start, text

    def failure(self, e: Exception) -> str:
        if isinstance(e, Unavailable):
            self.disabled = f"LLM off for the rest of the study: {e}"
            return self.disabled
        return f"{type(e).__name__}: {clean_text(e, 160)}"

    def info(self, status: str, reason: str | None, tokens: int) -> dict:
        """The task's record of itself (parser.schema.LLMInfo), with the study's running totals."""
        return {"status": status, "reason": clean_text(reason, 300) if reason else None, "tokens": tokens,
                "study_tokens": self.usage.total, "calls": self.usage.calls}

    def tokens(self) -> str:
        return f"tokens {self.usage.total} in {self.usage.calls} calls"


@dataclass
class LLMPlanner:
    offline: OfflinePlanner
    chat: object = None  # Chat, or anything called the same way (ignored when a session is given)
    max_tokens: int = 100_000
    claim: str = ""
    session: Session | None = None  # shared with the compiler, the evolver and the narrator
    counts: dict = field(default_factory=lambda: {"llm": 0, "llm-repaired": 0, "offline-fallback": 0})

    def __post_init__(self):
        self.session = self.session or Session(self.chat, self.max_tokens)
        self.chat, self.max_tokens = self.session.chat, self.session.max_tokens  # read-only views

    @property
    def name(self) -> str:
        return "llm"

    @property
    def usage(self) -> Usage:
        return self.session.usage

    @property
    def mode(self) -> str:
        return self.session.mode

    @property
    def disabled(self) -> str:
        return self.session.disabled

    def propose(self, predictions: list[Prediction], verdicts: dict[str, Verdict],
                records: list[ResultRecord], space: Space, pending: tuple[dict, ...] = (),
                indexes: Indexes | None = None) -> Proposal | None:
        indexes = indexes or Indexes()
        fallback = self.offline.propose(predictions, verdicts, records, space, pending, indexes)
        if fallback is None or fallback.pair is not None or (fallback.gain or 0.0) < MIN_GAIN:
            # nothing worth running, a half-done pair to finish, or only what the budget can still
            # decide (planner/reach.py) with no candidate worth asking about: no choice to make
            return fallback
        if self.session.blocked():
            return self._fallback(fallback, self.session.disabled, 0)
        by_id = {p.id: p for p in predictions}
        open_ = [p for p in predictions if not verdicts[p.id].decided]
        candidates = [c for c in self.offline.rank(open_, by_id, records, space, pending, indexes)
                      if c.gain >= MIN_GAIN][:CANDIDATES]
        claim = self.claim or _claim(predictions)
        messages = build_messages(claim, predictions, verdicts, records, candidates, space)
        ids = [p.id for p in open_]
        schema = {"object": reply_schema(space, len(candidates), ids),
                  "grammar": reply_schema(space, len(candidates), ids, grammar=True)}

        def check(text: str):
            reply = parse_reply(text)
            return reply, runs_from_reply(reply, candidates, open_, by_id, records, space, pending)

        found, status, reason, tokens, _ = self.session.ask_valid(messages, schema, check)
        if found is None:
            return self._fallback(fallback, reason, tokens)
        reply, (runs, targets, what) = found
        return self._accepted(runs, targets, reply.rationale, what, reason if status == "repaired" else "", tokens)

    def _info(self, planner: str, reason: str | None, tokens: int) -> dict:
        self.counts[planner] += 1
        return self.session.info(STATUS[planner], reason, tokens)

    def _accepted(self, runs, targets, rationale, what, repaired, tokens) -> Proposal:
        status = "llm-repaired" if repaired else "llm"
        why = clean_text(rationale) or "(no rationale)"
        note = f"[llm {what}" + (f", repaired after: {clean_text(repaired, 160)}" if repaired else "")
        return Proposal(runs, targets, f"{why} {note}; {self.session.tokens()}]", status,
                        llm=self._info(status, repaired or None, tokens))

    def _fallback(self, offline: Proposal, reason: str, tokens: int) -> Proposal:
        reason = clean_text(reason, 300)
        return replace(offline, planner="offline-fallback", llm=self._info("offline-fallback", reason, tokens),
                       rationale=f"{offline.rationale} [offline fallback: {reason}; {self.session.tokens()}]")


def _claim(predictions: list[Prediction]) -> str:
    return "; ".join(p.text for p in predictions[:3])
