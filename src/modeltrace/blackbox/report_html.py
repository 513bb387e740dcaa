"""The ``probe`` report as one self-contained HTML page: the two verdicts, every test, the queries.

Readers: someone who needs the two answers in a sentence each, and an expert who needs every number.
The page has no scripts and loads nothing; the full JSON report is embedded in it (``<script
type="application/json" id="report-json">``), so the page cannot say more than the JSON holds. Every
string that came from an endpoint (answers, model names) is escaped: the suspect is an adversary.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["render", "write_report"]

_TEST_TITLES = {
    "tokenizer": "Tokenizer (usage token counts)",
    "lineage": "Lineage: greedy agreement against the reference and baselines",
    "identity_agreement": "Identity: greedy answers and logprobs against the reference asked twice",
    "identity": "Identity: distribution of sampled completions (MMD)",
}

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.verdict{font-size:1.15em;padding:.6em;
border-left:6px solid #888;background:#fafafa;margin:.5em 0}.derived,.different{border-color:#b00}
.independent,.same{border-color:#070}code,pre{font-family:ui-monospace,monospace;font-size:.9em}
pre{white-space:pre-wrap;word-break:break-all;margin:0}.muted{color:#666}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    if isinstance(value, str):  # infinities are stored as strings (JSON has none)
        return _e(value)
    if isinstance(value, bool) or value is None:
        return _e(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else _e(value)
    return _e(value)


def _pvalue(test: Mapping[str, Any]) -> str:
    log10 = test.get("log10_pvalue")
    if isinstance(log10, int | float) and math.isfinite(log10) and log10 < -3:
        return f"10<sup>{log10:.1f}</sup>"
    return _num(test.get("pvalue"))


def _verdict_class(text: str) -> str:
    for word in ("derived", "different", "independent", "not distinguishable", "not a derivative"):
        if text.startswith(word):
            return {"not distinguishable": "same", "not a derivative": "independent"}.get(word, word)
    return ""


def _kv_table(items: Mapping[str, Any]) -> str:
    rows = []
    for key, value in items.items():
        shown = (
            _num(value)
            if not isinstance(value, dict | list)
            else f"<pre>{_e(json.dumps(value, ensure_ascii=False))}</pre>"
        )
        rows.append(f"<tr><th>{_e(key)}</th><td>{shown}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _tests_table(tests: Mapping[str, Any]) -> str:
    head = (
        "<tr><th>test</th><th>null hypothesis (H0)</th><th>statistic</th><th>p-value</th>"
        "<th>α</th><th>H0 rejected</th><th>effect size</th><th>queries</th></tr>"
    )
    rows = []
    for key, t in tests.items():
        rows.append(
            f"<tr><td>{_e(_TEST_TITLES.get(key, key))}</td><td>{_e(t.get('null', ''))}</td>"
            f"<td>{_num(t.get('statistic'))}</td><td>{_pvalue(t)}</td><td>{_num(t.get('alpha'))}</td>"
            f"<td>{'yes' if t.get('rejected') else 'no'}</td>"
            f"<td>{_num(t.get('effect_size'))} <span class=muted>({_e(t.get('effect_size_name', ''))})</span>"
            f"</td><td>{_num(t.get('queries'))}</td></tr>"
        )
    return "<table>" + head + "".join(rows) + "</table>"


def _examples(examples: Mapping[str, Any]) -> str:
    parts = []
    for key, rows in examples.items():
        if not rows:
            continue
        cols = list(rows[0].keys())
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td><pre>{_e(repr(r.get(c, '')))}</pre></td>" for c in cols) + "</tr>"
            for r in rows
        )
        parts.append(f"<h3>{_e(_TEST_TITLES.get(key, key))}</h3><table><tr>{head}</tr>{body}</table>")
    return "".join(parts) or "<p>No examples (the run stopped before collecting answers).</p>"


def render(report: Mapping[str, Any]) -> str:
    """The HTML page for a :func:`modeltrace.blackbox.run_probe` report."""
    verdicts = report.get("verdicts", {})
    tests = report.get("tests", {})
    questions = {
        "identity": "Is the suspect the reference model itself (same outputs)?",
        "lineage": "Is the suspect derived from the reference model?",
    }
    verdict_html = "".join(
        f'<div class="verdict {_verdict_class(str(verdicts[q]))}"><b>{_e(label)}</b><br>'
        f"{_e(verdicts[q])}</div>"
        for q, label in questions.items()
        if q in verdicts
    )
    detail = "".join(
        f"<details><summary>{_e(_TEST_TITLES.get(k, k))}: diagnostics</summary>"
        f"{_kv_table(t.get('diagnostics', {}))}</details>"
        for k, t in tests.items()
    )
    notes = report.get("notes") or []
    notes_html = "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>" if notes else "<p>None.</p>"
    queries = report.get("queries", {})
    q_rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(report.get('endpoints', {}).get(name, {}).get('base_url', ''))}</td>"
        f"<td>{_e(report.get('endpoints', {}).get(name, {}).get('model', ''))}</td>"
        f"<td>{_num(q.get('answered'))}</td><td>{_num(q.get('reused'))}</td><td>{_num(q.get('sent'))}</td></tr>"
        for name, q in queries.items()
    )
    transcript = report.get("transcript")
    t_html = _kv_table(transcript) if isinstance(transcript, dict) else f"<p>{_e(transcript or 'none')}</p>"
    blob = json.dumps(report, ensure_ascii=False, default=str, sort_keys=True)
    # "<" only occurs inside JSON strings, where \u003c means the same: no answer can close the element.
    blob = blob.replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modeltrace probe report</title>
<style>{_CSS}</style></head><body>
<h1>modeltrace probe: is this endpoint serving our model?</h1>
{verdict_html}
<p class=muted>Identity and lineage are separate questions with separate tests. A p-value is the chance,
if H0 held, of evidence at least this strong; "not distinguishable" means no test rejected at this
budget, not proof of identity.</p>
<h2>Tests</h2>{_tests_table(tests)}{detail}
<h2>Notes</h2>{notes_html}
<h2>Queries</h2>
<p>{_num(report.get("queries_total"))} answered requests of a budget of {_num(report.get("budget"))};
stopped: {_e(report.get("stopped", ""))}.</p>
<table><tr><th>role</th><th>endpoint</th><th>model</th><th>answered</th><th>reused from transcript</th>
<th>HTTP requests sent</th></tr>{q_rows}</table>
<h2>Example prompts and answers</h2>{_examples(report.get("examples", {}))}
<h2>Configuration</h2>{_kv_table(report.get("config", {}))}
<h2>Transcript</h2>{t_html}
<script type="application/json" id="report-json">{blob}</script>
</body></html>
"""


def write_report(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the page atomically: a crash never leaves a partial page that looks complete."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render(report))
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
