"""plot.py - the drafter data curve from bench/drafter-curve.ts's rows, with matplotlib.

    python plot.py REPORT.json OUT_DIR

REPORT.json is {"rows": [...]}, one row per trained drafter (rows without accuracies are
existing drafters measured for reference: a dotted line at their tau). Writes OUT_DIR/curve.png: tau on
the held-out prompts and held-out top-1 per draft step against training samples, one line per
teacher set and drafter shape.
"""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def label(r: dict) -> str:
    return f"{r['set']} (V' {r['draft_vocab']}, {r['layers']} ResBlock, proj {r['proj']}, L {r['beam_length']})"


def main(path: str, out: str) -> None:
    with open(path) as f:
        rows = json.load(f)["rows"]
    lines = defaultdict(list)
    refs = [r for r in rows if "acc1" not in r]  # an existing drafter's tau: a horizontal line
    for r in rows:
        if "acc1" in r:
            lines[label(r)].append(r)
    fig, (a_tau, a_acc) = plt.subplots(1, 2, figsize=(13, 5))
    for name, rs in sorted(lines.items()):
        rs.sort(key=lambda r: r["n_train_samples"])
        x = [r["n_train_samples"] for r in rs]
        (p,) = a_tau.plot(x, [r["tau"] for r in rs], marker="o", label=name)
        for k in range(len(rs[0]["acc1"])):
            a_acc.plot(x, [r["acc1"][k] for r in rs], marker="o", linestyle="-" if k == 0 else "--",
                       color=p.get_color(), label=f"{name}, step {k + 1}")
    for r in refs:
        a_tau.axhline(r["tau"], linestyle=":", color="gray")
        a_tau.annotate(f"{r['set']}: {r['tau']:.3f}", (0.02, r["tau"]), xycoords=("axes fraction", "data"),
                       fontsize=7, color="gray", va="bottom")
    r0 = rows[0]
    a_tau.set_title(f"tau on {r0['tau_prompts']} held-out prompts ({r0['heldout']}), "
                    f"{r0['tau_tokens']} tokens, B {r0['tau_beams']}", fontsize=9)
    a_acc.set_title("held-out top-1 per draft step (answers of prompts kept out of training)", fontsize=9)
    for a in (a_tau, a_acc):
        a.set_xscale("log")
        a.set_xlabel("training samples (positions with L following ones)")
        a.grid(True, alpha=0.3)
    a_tau.set_ylabel("tau (tokens per target call)")
    a_acc.set_ylabel("top-1 accuracy")
    a_tau.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, 0.94))  # under the reference line
    a_acc.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(f"{out}/curve.png", dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
