"""Do the measures agree? Every method ranked by the paper's saliency metric (crop rescaled), by
the variant without rescaling (crop in place), by localisation and by deletion / insertion, per
shipped model, with Kendall's tau between rankings; and across all (model, method) rows, the
Spearman correlation of localisation error with each faithfulness measure.

    python scripts/metric_rankings.py --output docs/results/review/rankings

Reads the one-run evaluation tables of the three shipped models (docs/results/*/results.csv,
made by `keras-saliency evaluate`, commands in docs/RESULTS.md and docs/IMAGENET.md); trains and
tunes nothing. Writes rankings.md, correlations.md, rankings.csv and measures.png.
"""

import argparse
import csv
import os


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = {
    "cifar10": "docs/results/cifar10/results.csv",
    "tiny-imagenet-100": "docs/results/tiny-imagenet-100/results.csv",
    "imagenet-darknet-tiny": "docs/results/imagenet-val-dev/dev-test/results.csv",
}
# measure -> (title, True when lower is better)
MEASURES = {
    "saliency_metric": ("saliency metric (rescaled)", True),
    "saliency_metric_in_place": ("saliency metric (in place)", True),
    "localisation_error": ("localisation error", True),
    "deletion_auc": ("deletion AUC", True),
    "insertion_auc": ("insertion AUC", False),
    "pointing_game": ("pointing game", False),
}
PAIRS = (("saliency_metric", "saliency_metric_in_place"), ("saliency_metric", "localisation_error"),
         ("saliency_metric_in_place", "localisation_error"), ("saliency_metric", "deletion_auc"),
         ("saliency_metric_in_place", "deletion_auc"), ("localisation_error", "deletion_auc"),
         ("localisation_error", "insertion_auc"))


def read(path):
    with open(os.path.join(REPO, path), newline="") as f:
        return {row["method"]: {k: float(v) for k, v in row.items() if k != "method" and v not in ("", None)}
                for row in csv.DictReader(f)}


def ranks(rows, measure):
    methods = [m for m in rows if measure in rows[m]]
    lower_better = MEASURES[measure][1]
    order = sorted(methods, key=lambda m: rows[m][measure] * (1 if lower_better else -1))
    return {m: i + 1 for i, m in enumerate(order)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    from scipy.stats import kendalltau, spearmanr

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.output, exist_ok=True)
    tables = {name: read(path) for name, path in RESULTS.items()}
    lines = ["# Rankings of the methods by each measure (1 = best)", ""]
    tau_lines = ["| model | ranking A | ranking B | methods | Kendall tau |", "|---|---|---|---|---|"]
    flat = []
    for name, rows in tables.items():
        measures = [m for m in MEASURES if any(m in r for r in rows.values())]
        by = {m: ranks(rows, m) for m in measures}
        lines += [f"## {name}", "", "| method | " + " | ".join(MEASURES[m][0] for m in measures) + " |",
                  "|---|" + "---|" * len(measures)]
        for method in rows:
            lines.append(f"| {method} | " + " | ".join(str(by[m].get(method, "")) for m in measures) + " |")
            flat.append({"model": name, "method": method, **{m: rows[method].get(m) for m in MEASURES}})
        lines.append("")
        for a, b in PAIRS:
            if a in by and b in by:
                common = [m for m in by[a] if m in by[b]]
                tau = kendalltau([by[a][m] for m in common], [by[b][m] for m in common])[0]
                tau_lines.append(f"| {name} | {MEASURES[a][0]} | {MEASURES[b][0]} | {len(common)} | {tau:.2f} |")
    with open(os.path.join(args.output, "rankings.md"), "w") as f:
        f.write("\n".join(lines + ["## Agreement between rankings", ""] + tau_lines) + "\n")
    with open(os.path.join(args.output, "rankings.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, ["model", "method"] + list(MEASURES))
        writer.writeheader()
        writer.writerows(flat)
    # Across (model, method) rows with a localisation error: is better localisation more faithful?
    located = [r for r in flat if r.get("localisation_error") is not None]
    corr = ["| faithfulness measure | rows | Spearman with localisation error | p |", "|---|---|---|---|"]
    for measure in ("saliency_metric", "saliency_metric_in_place", "deletion_auc", "insertion_auc"):
        pairs = [(r["localisation_error"], r[measure]) for r in located if r.get(measure) is not None]
        rho, p = spearmanr(*zip(*pairs))
        corr.append(f"| {MEASURES[measure][0]} | {len(pairs)} | {rho:.2f} | {p:.3f} |")
    for name in tables:  # within one model (same images and classifier)
        rows = [r for r in located if r["model"] == name]
        if len(rows) >= 4:
            for measure in ("saliency_metric", "deletion_auc", "insertion_auc"):
                rho, p = spearmanr([r["localisation_error"] for r in rows], [r[measure] for r in rows])
                corr.append(f"| {MEASURES[measure][0]}, {name} only | {len(rows)} | {rho:.2f} | {p:.3f} |")
    with open(os.path.join(args.output, "correlations.md"), "w") as f:
        f.write("\n".join(corr) + "\n")
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for axis, measure in zip(axes, ("saliency_metric", "deletion_auc", "insertion_auc")):
        for name, marker in zip(tables, "os^"):
            rows = [r for r in located if r["model"] == name and r.get(measure) is not None]
            axis.scatter([r["localisation_error"] for r in rows], [r[measure] for r in rows], marker=marker, label=name)
            for r in rows:
                axis.annotate(r["method"], (r["localisation_error"], r[measure]), fontsize=5)
        axis.set_xlabel("localisation error")
        axis.set_ylabel(MEASURES[measure][0])
    axes[0].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(os.path.join(args.output, "measures.png"), dpi=120)
    print("\n".join(tau_lines))
    print("\n".join(corr))


if __name__ == "__main__":
    main()
