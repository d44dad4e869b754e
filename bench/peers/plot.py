"""plot.py - the race's plots from bench/peers.ts's JSON, with matplotlib.

    python plot.py RACE.json OUT_DIR

Writes OUT_DIR/tok_s.png (end-to-end and generation-phase tokens/s per configuration, all
prompts) and OUT_DIR/by_category.png (end-to-end tokens/s per configuration and prompt category).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"redrafter": "#c0392b", "llama-server": "#2c6fbb", "node-llama-cpp": "#3a9a5b"}


def main(path: str, out: str) -> None:
    with open(path) as f:
        race = json.load(f)
    rows = race["rows"]
    setting = (f"{race['n_prompts']} prompts x {race['max_tokens']} tokens, greedy, "
               f"{race['threads']} thread(s), ctx {race['ctx_size']}")

    overall = [r for r in rows if r["category"] == "all"]
    names = [r["name"] for r in overall]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.6))
    y = range(len(names))
    h = 0.4
    ax.barh([i - h / 2 for i in y], [r["e2e_tok_s"] for r in overall], h,
            color=[COLORS[r["family"]] for r in overall], label="end-to-end (client wall time)")
    ax.barh([i + h / 2 for i in y], [r["gen_tok_s"] for r in overall], h,
            color=[COLORS[r["family"]] for r in overall], alpha=0.45, label="generation phase (engine's clock)")
    for i, r in zip(y, overall):
        ax.text(r["e2e_tok_s"], i - h / 2, f" {r['e2e_tok_s']:.1f} ({r['e2e_vs_rd_plain']:.2f}x)", va="center", fontsize=8)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel("tokens/s (ratio: end-to-end vs redrafter plain)")
    ax.set_title(f"Race on {race['model'].split('/')[-1]}\n{setting}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.margins(x=0.18)
    fig.tight_layout()
    fig.savefig(f"{out}/tok_s.png", dpi=120)
    plt.close(fig)

    cats = [c for c in dict.fromkeys(r["category"] for r in rows) if c != "all"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) * max(1, len(cats)) / 2 + 1.6))
    h = 0.8 / max(1, len(cats))
    for k, cat in enumerate(cats):
        by_name = {r["name"]: r for r in rows if r["category"] == cat}
        ax.barh([i - 0.4 + h * (k + 0.5) for i in y], [by_name[n]["e2e_tok_s"] for n in names], h,
                label=f"{cat} ({by_name[names[0]]['prompts']} prompts)", color=plt.cm.tab10(k))
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel("end-to-end tokens/s")
    ax.set_title(f"By prompt category\n{setting}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{out}/by_category.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
