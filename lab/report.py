"""The scenario report: one self-contained HTML file (pictures inline) and the same pictures as PNG files beside it.

Per run: the topology (nodes by role, links with their addresses); per scenario a timeline (the core's egress for
every prefix, each egress's measured latency and loss, the injected steps and the expectations' verdicts marked),
the expectation table (pass/fail, when it held, route changes) and the numbers.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
from matplotlib.figure import Figure

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from lab.clab import ClabTopology
    from lab.scenario_result import Result

ROLE_X = {"cloud-gateway": 0.0, "route-server": 1.0, "core": 2.0, "egress-router": 3.0, "host": 4.0}
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def topology_png(topo: ClabTopology) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    rows: dict[float, int] = {}
    at = {}
    for node in topo.nodes.values():
        x = ROLE_X.get(node.role, 2.0)
        at[node.name] = (x, -rows.get(x, 0))
        rows[x] = rows.get(x, 0) + 1
    for link in topo.links:
        (x1, y1), (x2, y2) = at[link.a.node], at[link.b.node]
        ax.plot([x1, x2], [y1, y2], color="#888", zorder=1)
        ax.text((x1 + x2) / 2, (y1 + y2) / 2, f"{link.ipv4[0]}\n{link.ipv4[1]}", fontsize=7, ha="center")
    for node in topo.nodes.values():
        x, y = at[node.name]
        ax.scatter([x], [y], s=900, color="#dde8f5", edgecolors="#1f4e79", zorder=2)
        ax.text(x, y, f"{node.name}\n{node.daemon}", ha="center", va="center", fontsize=8, zorder=3)
    ax.set_axis_off()
    ax.set_title(f"topology {topo.name} ({topo.path.name})", fontsize=9)
    ax.margins(0.25)
    return _png(fig)


def timeline_png(result: Result) -> bytes:
    tl = result.timeline
    egresses = [*sorted({e for _, snap in tl.routes for e in snap.values()} - {"none"}), "none"]
    prefixes = sorted({p for _, snap in tl.routes for p in snap})
    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True, height_ratios=[2, 1, 1])
    for i, prefix in enumerate(prefixes):
        ts = [t for t, snap in tl.routes]
        ys = [egresses.index(snap.get(prefix, "none")) + (i - len(prefixes) / 2) * 0.04 for _, snap in tl.routes]
        axes[0].step(ts, ys, where="post", label=prefix, color=COLOURS[i % len(COLOURS)], linewidth=1.2)
    axes[0].set_yticks(range(len(egresses)), egresses)
    axes[0].set_ylabel("core's egress")
    axes[0].legend(fontsize=7, loc="upper right", ncol=3)
    names = sorted({e for _, m in tl.measured for e in m})
    for i, e in enumerate(names):
        pts = [(t, m[e]) for t, m in tl.measured if e in m]
        lat = [(t, v["latency_ms"]) for t, v in pts if v.get("latency_ms") is not None]
        loss = [(t, v["loss_pct"]) for t, v in pts if v.get("loss_pct") is not None]
        colour = COLOURS[i % len(COLOURS)]
        if lat:
            axes[1].plot(*zip(*lat, strict=True), label=e, color=colour)
        if loss:
            axes[2].plot(*zip(*loss, strict=True), label=e, color=colour)
    axes[1].set_ylabel("latency ms")
    axes[2].set_ylabel("loss %")
    axes[2].set_xlabel("seconds into the scenario")
    for ax in axes[1:]:
        if names:
            ax.legend(fontsize=7, loc="upper right")
    for t, what in tl.events:
        failed = what.endswith("FAIL")
        colour = "#d62728" if failed else ("#2ca02c" if what.startswith("expect") else "#555")
        for ax in axes:
            ax.axvline(t, color=colour, linestyle=":", linewidth=1)
        axes[0].text(t, len(egresses) - 0.6, what[:40], rotation=90, fontsize=6, va="top", color=colour)
    axes[0].set_title(f"{result.scenario.name}: {'PASS' if result.passed else 'FAIL'}", fontsize=10)
    return _png(fig)


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def write(results: Sequence[Result], out: Path) -> Path:
    """report.html (self-contained) and topology-NAME.png, SCENARIO.png in ``out``."""
    from lab.clab import load

    out.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><meta charset=utf-8><title>bgpsteer lab report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{padding:2px 8px;border-bottom:1px solid"
        " #ddd;text-align:left}.pass{color:#2ca02c}.fail{color:#d62728;font-weight:bold}img{max-width:100%}</style>",
        "<h1>bgpsteer lab report</h1>",
        f"<p>{sum(r.passed for r in results)} of {len(results)} scenarios passed.</p>",
    ]
    for topo_path in sorted({r.scenario.topology for r in results}):
        topo = load(topo_path)
        png = topology_png(topo)
        (out / f"topology-{topo.name}.png").write_bytes(png)
        parts.append(_img(png, f"topology {topo_path.name}"))
    for r in results:
        png = timeline_png(r)
        (out / f"{r.scenario.name}.png").write_bytes(png)
        verdict = '<span class="pass">PASS</span>' if r.passed else '<span class="fail">FAIL</span>'
        parts += [
            f"<h2>{html.escape(r.scenario.name)} {verdict}</h2>",
            f"<p>{html.escape(r.scenario.description)} <small>({html.escape(str(r.scenario.path))})</small></p>",
            _img(png, f"timeline of {r.scenario.name}"),
            "<table><tr><th>expectation</th><th>line</th><th>result</th><th>held after</th>"
            "<th>route changes</th><th>detail</th></tr>",
        ]
        for o in r.outcomes:
            took = "never" if o.took is None else f"{o.took:.1f} s"
            cls = "pass" if o.passed else "fail"
            parts.append(
                f"<tr><td>{html.escape(o.name)}</td><td>{o.line}</td><td class={cls}>{'pass' if o.passed else 'FAIL'}"
                f"</td><td>{took}</td><td>{o.changes}</td><td>{html.escape(o.detail)}</td></tr>"
            )
        parts.append("</table>")
        if r.error:
            parts.append(f'<p class="fail">stopped: {html.escape(r.error)}</p>')
        samples = len(r.timeline.routes)
        span = r.timeline.routes[-1][0] if r.timeline.routes else 0.0
        parts.append(
            f"<p>{samples} RIB polls over {span:.1f} s; {r.timeline.changes(0.0)} route changes on the core in all; "
            f"{len(r.timeline.measured)} measurement samples.</p>"
        )
    path = out / "report.html"
    path.write_text("\n".join(parts) + "\n")
    return path
