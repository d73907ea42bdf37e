"""Draw an `awm.json` as a PNG: nodes in layers by prerequisite depth, verified nodes solid,
hypothesized ones dashed (with the step each node was verified), edges coloured by kind; edges the
env's true rules do not have are red with an x, hypothesized edges experience deleted are dotted grey."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KIND_COLOURS = {"ingredient": "#333333", "tool": "#1f63b4", "station": "#2a8a2a"}


def _layers(nodes: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Depth of each node: 0 without prerequisites, else 1 + the deepest prerequisite (a DAG)."""
    depth: dict[str, int] = {}

    def visit(name: str, seen: frozenset) -> int:
        if name in depth:
            return depth[name]
        node = nodes.get(name)
        prereqs = [] if node is None else [*node["ingredients"], *node["tools"], *node["stations"]]
        prereqs = [p for p in prereqs if p not in seen]
        d = 1 + max((visit(p, seen | {name}) for p in prereqs), default=-1)
        depth[name] = d
        return d

    for name in nodes:
        visit(name, frozenset())
    return depth


def draw_awm(awm_path: str | Path, out_png: str | Path) -> dict[str, int]:
    """Write the PNG; returns counts (nodes, verified, edges, wrong edges, deleted edges)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    data = json.loads(Path(awm_path).read_text())
    nodes = {n["name"]: n for n in data["nodes"]}
    true = {tuple(e) for e in data.get("true_edges", [])}
    hypothesis = {tuple(e) for e in data.get("hypothesis_edges", [])}
    depth = _layers(nodes)
    columns: dict[int, list[str]] = {}
    for name in nodes:  # keep the file's (the env's) order within a layer
        columns.setdefault(depth[name], []).append(name)
    pos = {}
    for d, names in columns.items():
        for k, name in enumerate(names):
            pos[name] = (d * 3.0, -(k - (len(names) - 1) / 2) * 1.3)
    edges = set()
    for n in nodes.values():
        edges |= {("ingredient", s, n["name"]) for s in n["ingredients"]}
        edges |= {("tool", s, n["name"]) for s in n["tools"]}
        edges |= {("station", s, n["name"]) for s in n["stations"]}
    deleted = {e for e in hypothesis - edges if e[1] in pos and e[2] in pos}
    height = max(len(v) for v in columns.values()) if columns else 1
    fig, ax = plt.subplots(figsize=(1.5 + 2.0 * len(columns), 2.0 + 1.1 * height))
    wrong = 0
    for kind, src, dst in sorted(edges | deleted):
        if src not in pos or dst not in pos:
            continue
        is_deleted = (kind, src, dst) in deleted
        is_wrong = bool(true) and (kind, src, dst) not in true and not is_deleted
        wrong += int(is_wrong)
        colour = "#999999" if is_deleted else ("#d62728" if is_wrong else KIND_COLOURS[kind])
        style = ":" if is_deleted else ("-" if nodes[dst]["status"] == "verified" else "--")
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        ax.annotate(
            "",
            xy=(x1 - 0.75, y1),
            xytext=(x0 + 0.75, y0),
            arrowprops=dict(arrowstyle="->", color=colour, linestyle=style, lw=1.2, connectionstyle="arc3,rad=0.08"),
        )
        if is_wrong:
            ax.text(
                (x0 + x1) / 2,
                (y0 + y1) / 2,
                "x",
                color="#d62728",
                fontsize=9,
                ha="center",
                va="center",
                fontweight="bold",
            )
    for name, (x, y) in pos.items():
        node = nodes[name]
        verified = node["status"] == "verified"
        label = name.replace("_", " ")
        label += f"\nverified @{node['verified_step']}" if verified else f"\n{node['source']}, unverified"
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=7,
            bbox=dict(
                boxstyle="round,pad=0.35",
                fc="#e8f3e8" if verified else "white",
                ec="#2a8a2a" if verified else "#777777",
                ls="-" if verified else "--",
                lw=1.2,
            ),
        )
    ax.set_xlim(-1.5, 3.0 * max(columns, default=0) + 1.5)
    ax.set_ylim(-0.8 * height - 0.8, 0.8 * height + 0.8)
    ax.axis("off")
    handles = [Line2D([], [], color=c, label=k) for k, c in KIND_COLOURS.items()]
    handles += [
        Line2D([], [], color="#d62728", label="not in the true rules (x)"),
        Line2D([], [], color="#999999", ls=":", label="hypothesized, deleted by experience"),
        Line2D([], [], color="#333333", ls="--", label="edge of an unverified node"),
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=7, frameon=False)
    ax.set_title(
        f"DECKARD graph: {data.get('family', '')}, hypothesis {data.get('hypothesis', '')}, step {data.get('step', 0)}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(out_png, dpi=130)
    plt.close(fig)
    return {
        "nodes": len(nodes),
        "verified": sum(1 for n in nodes.values() if n["status"] == "verified"),
        "edges": len(edges),
        "wrong_edges": wrong,
        "deleted_edges": len(deleted),
    }
