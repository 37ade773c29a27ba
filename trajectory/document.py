"""The study report as a list of blocks, and its two renderings: Markdown and LaTeX.

The content is built once (`blocks`) from the trajectory graph and the log's
records; `markdown` and `latex` only format it, so the two files always say the
same thing. Inline text is a string or a list of runs `(style, text)` with style
"" (plain), "code", "bold" or "llm" (text an LLM wrote: Markdown escapes it too, so it
can't become a link, an image or HTML); every piece of user text goes through the
renderer's escaping, never straight into the output.
"""
from __future__ import annotations

import html
import re

from parser import ranges
from trajectory.llm_notes import accounting_line
from trajectory.sides import shown

METHOD = [
    "Both arms of a comparison run with the same seed, so seed noise cancels in their "
    "difference. For each pair the score is the log-ratio of the metric between the arms, "
    "shifted by the prediction's threshold, so the prediction holds when the mean score is "
    "positive. The posterior of that mean is Student-t, with the seed-noise variance pooled "
    "across every design cell of the prediction (weak prior: one degree of freedom at a 10% "
    "spread); the confidence is its mass above zero. An interaction compares the effect's "
    "mean between two regions. A prediction is confirmed (refuted) when its confidence "
    "passes 0.9 (0.1) and the anytime-valid t-test e-value for that side passes 20, so "
    "looking after every run does not inflate false decisions (Ville's inequality). Each "
    "e-value shown is for the side the confidence leans to, and says so: for the claim, or "
    "against it, with that side in the prediction's terms.",
    "The planner scores every candidate run (the next seed of a design cell an open "
    "prediction can use) by its expected information gain per expected second: the drop in "
    "each informed prediction's binary entropy, simulated from the current posterior "
    "predictive through the same guarded checker, divided by the median time of past runs "
    "of that shape. Refinements and child hypotheses come from guarded evidence and are "
    "judged only on runs made after them.",
]


def _num(value, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def _interval(iv) -> str:
    return "-" if not iv else f"[{iv[0]:.3g}, {iv[1]:.3g}]"


def prediction_items(graph: dict) -> list:
    """Each prediction: its words, the verdict, what was found in its own terms, what would settle it."""
    items = []
    for p in graph["predictions"]:
        by_llm = p.get("compiled_by") == "llm" and p.get("parent")  # its words are the LLM's
        found = p.get("found") or {}
        runs = [("bold", f"{p['id']} ({p['hypothesis']}):"), ("llm" if by_llm else "", " " + p["text"]),
                ("", " -- "), ("bold", p["status"]),
                ("", f" (confidence {_num(p['confidence'], '.2f')}, {shown(p) or 'no e-value yet'}, "
                     f"{p['n_pairs']} {'runs' if p['spec']['kind'] == 'bound' else 'pairs'}). ")]
        if found.get("text"):
            runs.append(("", f"Found: {found['text']}. "))
        if found.get("sentence"):
            runs.append(("", f"That is: {found['sentence']}. "))
        if found.get("curve"):
            runs.append(("", f"Along {found['curve']['variable']}: {found['curve']['text']}. "))
        if found.get("caveat"):
            runs.append(("", f"Caveat: {found['caveat']}. "))
        if p.get("basis"):
            runs.append(("", f"Read: {p['basis']}. "))
        if found.get("to_decide"):
            runs.append(("", f"To decide: {found['to_decide']['text']}. "))
        runs += [("", "Definition: "), ("code", p["definition"])]
        if p.get("reason"):
            runs.append(("llm" if by_llm else "", f" ({p['reason']})"))
        items.append(runs)
    return items


def _llm_or_plain(text: str, by_llm: bool):
    return [("llm", text)] if by_llm else text


def trajectory_items(graph: dict) -> list:
    items = []
    by_llm = {p["hypothesis"] for p in graph["predictions"] if p.get("compiled_by") == "llm" and p.get("parent")}
    for p in graph["predictions"]:
        if p.get("parent"):
            after = f" after {p['after']}" if p.get("after") else ""
            # an interaction on its own parent scopes it (graph.py's "scopes" edge); the rest refine
            spec = p.get("spec") or {}
            verb = "scopes" if spec.get("kind") == "interaction" and spec.get("of") == p["parent"] else "refines"
            items.append(_llm_or_plain(f"{p['id']} {verb} {p['parent']}{after}: {p['reason'] or 'no reason given'}",
                                       p.get("compiled_by") == "llm"))
    for h in graph["hypotheses"]:
        if h.get("parent"):
            items.append(_llm_or_plain(f"{h['id']} (child of {h['parent']}, after {h['after']}): {h['claim']} -- "
                                       f"{h['reason']}", h["id"] in by_llm))
    for ext in graph.get("space_extensions") or []:
        after = f" (after {ext['after']})" if ext.get("after") else ""
        items.append(f"space: {ext['factor']} gained {ext['value']}{after}: {ext['reason']}")
    return items or ["no refinements, child hypotheses or space extensions"]


def varying_factors(experiments: list[dict]) -> list[str]:
    """The factors that take more than one value across the runs (fixed ones would be noise)."""
    keys = dict.fromkeys(k for e in experiments for k in e["factors"])
    return [k for k in keys if len({repr(e["factors"].get(k)) for e in experiments}) > 1]


def metric_columns(graph: dict) -> list[str]:
    """The other metrics the study reads (val_acc, tokens_per_s, ...), a column each."""
    return list(graph["experiments"][0].get("metrics", {})) if graph["experiments"] else []


def experiment_rows(graph: dict, records: list) -> list[list[str]]:
    by_id = {r.experiment_id: r for r in records}
    varying = varying_factors(graph["experiments"])
    rows = []
    for e in graph["experiments"]:
        factors = ", ".join(f"{k}={e['factors'][k]}" for k in varying if k in e["factors"])
        r = by_id.get(e["id"])
        steps = "" if r is None or r.steps is None else f"{r.steps}" + (" (stopped at target)" if r.stopped_early
                                                                         else "")
        rows.append([e["id"], factors, str(e["seed"]), e["status"], _num(e["final_val_loss"], ".4f"),
                     *(_num(v, ".4g") for v in e.get("metrics", {}).values()),
                     _num(r.train_time_s if r else None, ".1f"), steps])
    return rows


def llm_blocks(notes: dict | None) -> tuple[list, list]:
    """(the narrative, labelled, for the top; the LLM's accounting and unaccepted proposals)."""
    if not notes:
        return [], []
    top = [("p", [("bold", "Summary written by the LLM"), ("", " (from the verdicts below; the verdicts, "
                                                               "not this paragraph, are the results): "),
                  ("llm", notes["narrative"])])] if notes["narrative"] else []
    items = [[("llm", f"{x['trigger']}, after {x['after']}: {x['status']}: {x['reason'] or 'no reason given'}"
                      + (f"; it proposed: {x['proposed'][:300]}" if x["proposed"] else ""))]
             for x in notes["proposals"]]
    return top, [("h", "LLM"), ("p", accounting_line(notes))] + ([("items", items)] if items else [])


def factors_line(root: dict) -> str:
    """Each factor the grid varies with its values; a range with its bounds and starting values."""
    spans, parts = root.get("ranges") or {}, []
    for key, value in sorted(root["initial_config"].items()):  # sorted: a rebuilt report reads the same
        if key in spans:
            r = ranges.FactorRange(**spans[key])
            parts.append(f"{key}: range {r.text()} (started from {', '.join(f'{v:g}' for v in value)})")
        elif isinstance(value, list) and len(value) > 1:
            parts.append(f"{key}: {', '.join(map(str, value))}")
    return "; ".join(parts) + "." if parts else "none (one configuration)."


def blocks(graph: dict, records: list, figures: list[tuple[str, str]], stopped: str) -> list:
    root = graph["hypotheses"][0]
    narrative, llm = llm_blocks(graph.get("llm"))
    out = [("title", f"Study report: {root['id']}"), ("p", [("bold", "Claim:"), ("", " " + root["claim"])]),
           ("p", [("bold", "Factors varied:"), ("", " " + factors_line(root))]),
           ("p", stopped), *([("p", graph["compute"]["text"] + ".")] if graph.get("compute") else []),
           *narrative,
           ("h", "Predictions"), ("items", prediction_items(graph)),
           ("h", "Trajectory"), ("items", trajectory_items(graph)), *llm,
           ("h", "Experiments"),
           ("table", ["id", "factors", "seed", "status", "final val loss", *metric_columns(graph), "train time (s)",
                      "steps"],
            experiment_rows(graph, records))]
    if figures:
        out.append(("h", "Figures"))
        out += [("figure", path, caption) for path, caption in figures]
    out += [("h", "Method")] + [("p", text) for text in METHOD]
    return out


# ---- Markdown ---------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


def md_escape(text: str) -> str:
    """Text that Markdown shows as written: no HTML, links, images or emphasis."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def _md_inline(text) -> str:
    runs = [("", text)] if isinstance(text, str) else text
    return "".join(f"`{t}`" if s == "code" else f"**{t}**" if s == "bold" else md_escape(t) if s == "llm" else t
                   for s, t in runs)


def markdown(doc: list) -> str:
    lines = []
    for block in doc:
        kind = block[0]
        if kind == "title":
            lines += [f"# {block[1]}", ""]
        elif kind == "h":
            lines += [f"## {block[1]}", ""]
        elif kind == "p":
            lines += [_md_inline(block[1]), ""]
        elif kind == "items":
            lines += [f"- {_md_inline(item)}" for item in block[1]] + [""]
        elif kind == "table":
            cell = lambda c: c.replace("|", "\\|")  # noqa: E731
            lines += ["| " + " | ".join(block[1]) + " |", "|" + " --- |" * len(block[1])]
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in block[2]] + [""]
        elif kind == "figure":
            lines += [f"![{block[2]}]({block[1]})", "", f"*{block[2]}*", ""]
    return "\n".join(lines)


# ---- LaTeX ------------------------------------------------------------------

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "→": r"$\rightarrow$", "≤": r"$\leq$", "≥": r"$\geq$", "×": r"$\times$", "±": r"$\pm$", "−": "-", "–": "--", "—": "---"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def escape(text: str) -> str:
    """User text made literal for LaTeX (one pass, so a replacement is never re-escaped)."""
    return _TEX_RE.sub(lambda m: _TEX[m.group()], str(text))


def _tex_inline(text) -> str:
    runs = [("", text)] if isinstance(text, str) else text
    style = {"code": r"\texttt{%s}", "bold": r"\textbf{%s}", "": "%s", "llm": "%s"}
    return "".join(style[s] % escape(t) for s, t in runs)


def latex(doc: list) -> str:
    out = [r"\documentclass[11pt]{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
           r"\usepackage[margin=2cm]{geometry}", r"\usepackage{graphicx}", r"\usepackage{longtable}",
           r"\begin{document}"]
    for block in doc:
        kind = block[0]
        if kind == "title":
            out += [r"\section*{%s}" % escape(block[1])]
        elif kind == "h":
            out += [r"\subsection*{%s}" % escape(block[1])]
        elif kind == "p":
            out += [_tex_inline(block[1]), ""]
        elif kind == "items":
            out += [r"\begin{itemize}"] + [r"\item " + _tex_inline(i) for i in block[1]] + [r"\end{itemize}"]
        elif kind == "table":
            out += [r"{\small\begin{longtable}{lp{6cm}rlrrl}", " & ".join(escape(h) for h in block[1]) + r" \\ \hline"]
            out += [" & ".join(escape(c) for c in row) + r" \\" for row in block[2]]
            out += [r"\end{longtable}}"]
        elif kind == "figure":
            out += [r"\begin{figure}[h]\centering", r"\includegraphics[width=0.8\textwidth]{%s}" % block[1],
                    r"\caption{%s}" % escape(block[2]), r"\end{figure}"]
    return "\n".join(out + [r"\end{document}", ""])
