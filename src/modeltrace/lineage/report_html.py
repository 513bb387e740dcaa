"""The ``compare`` report as one self-contained HTML page: verdict, heatmap, tables, method.

Written for two readers: a lawyer who needs the verdict in one sentence and what it rests on, and an
expert on the other side who needs every number to check it. The page has no scripts and loads
nothing from the network; the full JSON report is embedded in it (``<script type="application/json"
id="report-json">``), so the page and the machine-readable evidence cannot drift apart.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from pathlib import Path

from modeltrace.lineage.evidence import DERIVED, INDEPENDENT, LineageReport

_CELL = 18


def _p(log10_p: float | None) -> str:
    if log10_p is None or not math.isfinite(log10_p):
        return "0 (exact copy)"
    return f"10<sup>{log10_p:.1f}</sup>" if log10_p < -3 else f"{10**log10_p:.3g}"


def _colour(value: float) -> str:
    """White (0 or below) to dark red (1): similarity of attention invariants."""
    v = min(max(value, 0.0), 1.0)
    shade = int(255 - 200 * v)
    return f"rgb(255,{shade},{shade})" if v < 0.5 else f"rgb({int(255 - 120 * (v - 0.5))},{shade},{shade})"


def heatmap_svg(report: LineageReport) -> str:
    """Layers of A (rows) × layers of B (columns), with the recovered layer map outlined."""
    grid = report.attention_grid
    if not grid:
        return "<p>No attention heatmap: a head layout is unknown, or the layers were copied verbatim.</p>"
    rows, cols = len(grid), len(grid[0])
    margin = 40
    width, height = margin + cols * _CELL + 10, margin + rows * _CELL + 10
    cells = []
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            mapped = report.layer_map.get(j) == i
            stroke = ' stroke="#000" stroke-width="2"' if mapped else ""
            cells.append(
                f'<rect x="{margin + j * _CELL}" y="{margin + i * _CELL}" width="{_CELL}" height="{_CELL}" '
                f'fill="{_colour(value)}"{stroke}><title>A layer {i}, B layer {j}: {value:.3f}</title></rect>'
            )
    labels = [
        f'<text x="{margin + j * _CELL + 4}" y="{margin - 6}" font-size="10">{j}</text>' for j in range(cols)
    ]
    labels += [f'<text x="6" y="{margin + i * _CELL + 13}" font-size="10">{i}</text>' for i in range(rows)]
    return (
        f'<svg id="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="attention similarity, layers of A by layers of B">'
        f'<text x="{margin}" y="12" font-size="11">layers of B →</text>'
        f'<text x="2" y="{margin - 20}" font-size="11">A ↓</text>{"".join(labels)}{"".join(cells)}</svg>'
    )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_METHOD = """
<p>The question is whether the suspect's weights were derived from the protected model's — by
copying, fine-tuning, quantising, pruning or merging — or were trained independently. The test
starts from that second possibility (the <em>null hypothesis</em>) and asks how surprising the
evidence would be if it were true; the p-value is that probability. A tiny p-value means the
evidence would be practically impossible for independently trained models.</p>
<ol>
<li><b>Exact copies.</b> Every tensor is read, dequantised and put in a common layout, then hashed.
Identical hashes are listed as exact copies.</li>
<li><b>Aligning the two models.</b> Tokens both vocabularies contain are matched by their text; their
embedding vectors are used to find the rotation that best maps one model's internal coordinates onto
the other's (orthogonal Procrustes), fitted on half of the tokens and checked on the other half.
Rotating a model's internal coordinates is a known way to disguise a copy; this step undoes it.</li>
<li><b>Matching neurons.</b> In each feed-forward (MLP) layer, every neuron of the protected model is
matched to its most similar neuron in the suspect, twice, from two different weight matrices of the
same neurons. Independently trained models agree only by chance; a copy — even permuted, rescaled or
fine-tuned — agrees on nearly every neuron. The chance rate assumed is deliberately higher than any
seen between independent models.</li>
<li><b>Mapping layers.</b> Quantities of each attention layer that do not change under the
disguises above are compared between every pair of layers (the heatmap); the best order-preserving
path through it says which layer of the suspect came from which layer of the protected model,
including dropped or repeated layers. These similarities locate what was shared; on their own they
do not decide, because independent models trained on similar data also resemble each other here.</li>
<li><b>Combining.</b> Layer p-values are combined with the Cauchy combination (ACAT), which stays
valid when layers are statistically dependent, as they are here.</li>
</ol>
"""


def render(report: LineageReport) -> str:
    data = report.to_dict()
    colour = {DERIVED: "#b00020", INDEPENDENT: "#1b5e20"}.get(report.verdict, "#8a6d00")
    tests = [
        [html.escape(t.name), f"{t.statistic:.4f}", _p(t.log10_p), html.escape(t.null)] for t in report.tests
    ]
    layers = [
        [
            str(p.layer_b),
            str(p.layer_a),
            "" if p.attention_similarity is None else f"{p.attention_similarity:.3f}",
            "" if p.mlp_agreement is None else f"{p.mlp_agreement:.3f}",
            _p(p.mlp_log10_p) if p.mlp_log10_p is not None else "",
            "" if p.neurons is None else str(p.neurons),
        ]
        for p in report.layers
    ]
    alignment = ""
    if report.alignment:
        al = report.alignment
        alignment = _table(
            [
                "shared tokens",
                "fitted on",
                "scored on",
                "held-out correlation",
                "nearest-token retrieval",
                "width A → B",
            ],
            [
                [
                    str(al.shared_tokens),
                    str(al.fitted_tokens),
                    str(al.heldout_tokens),
                    f"{al.heldout_correlation:.4f}",
                    f"{al.heldout_retrieval:.4f}",
                    f"{al.width_a} → {al.width_b}",
                ]
            ],
        )
    copies = (
        "".join(f"<li><code>{html.escape(n)}</code></li>" for n in report.exact_copies) or "<li>none</li>"
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    # "</" inside the embedded JSON would end the script element early.
    tests_html = (
        _table(["test", "statistic", "p-value", "null hypothesis"], tests)
        if tests
        else "<p>No statistical test was needed or possible.</p>"
    )
    layer_headers = [
        "layer of B",
        "from layer of A",
        "attention sim.",
        "MLP agreement",
        "MLP p-value",
        "neurons",
    ]
    layers_html = _table(layer_headers, layers) if layers else "<p>No layer map.</p>"
    embedded = json.dumps(data, indent=1).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modeltrace compare: {html.escape(report.verdict)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
#verdict {{ border-left: 0.5rem solid {colour}; padding: 0.5rem 1rem; background: #fafafa; }}
code {{ font-size: 0.9em; }}
</style></head><body>
<h1>Were these weights derived from ours?</h1>
<p>Protected model: <code>{html.escape(report.protected)}</code><br>
Suspect model: <code>{html.escape(report.suspect)}</code></p>
<div id="verdict"><p><b id="verdict-word">{html.escape(report.verdict.upper())}</b></p>
<p id="verdict-sentence">{html.escape(report.sentence())}</p>
<p>Null hypothesis: {html.escape(report.null)}. Overall p-value: {_p(report.log10_p)}.
Reason: {html.escape(report.reason)}.</p></div>
<h2>Layer heatmap</h2>
<p>Similarity of attention invariants, layers of the protected model (rows) against layers of the suspect
(columns); outlined cells are the recovered layer map.</p>
{heatmap_svg(report)}
<h2>Tests</h2>
{tests_html}
<h2>Layer map</h2>
{layers_html}
<h2>Residual-stream alignment</h2>
{alignment or "<p>No alignment (too few shared tokens, or not needed).</p>"}
<h2>Exact copies</h2>
<ul>{copies or "<li>none</li>"}</ul>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Method, in plain words</h2>
{_METHOD}
<p>Computed in {report.seconds:.1f} s by modeltrace; the complete evidence is embedded here as JSON.</p>
<script type="application/json" id="report-json">{embedded}</script>
</body></html>
"""


def write_report(report: LineageReport, path: Path) -> Path:
    """Write the page atomically: a reader never sees a half-written report under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(render(report))
        Path(tmp).chmod(0o644)  # a report is meant to be shared, unlike mkstemp's private default
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
