"""Per-seed table of a study runs file (bench study --json writes <out>/study-<preset>.runs.jsonl): final accuracy,
selection seconds (selector training of every round + scoring + PruneFuse's final selector, as the study counts it),
the ratio to dense AL of the same seed and the differences to dense AL. usage: summarize-study.py RUNS.jsonl"""
import json
import statistics
import sys

runs = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    runs[(r["Method"], r["Seed"])] = r


def final_selector(st):
    # Only PruneFuse trains a final selector (the fusion source); for the others the status repeats the last round's.
    spec = st["Spec"]
    return st.get("FinalSelectorSeconds", 0) if spec["Selector"] == 0 and (spec["Fusion"] or spec["DistillationAlpha"] > 0) else 0


def selection(st):
    final = final_selector(st)
    return sum(x["SelectorTrainSeconds"] + x["ScoringSeconds"] for x in st["Rounds"]) + final


methods = sorted({m for m, _ in runs}, key=lambda m: ["prunefuse-p0.5", "warm-fuse-warm", "dense-al", "random"].index(m) if m in ["prunefuse-p0.5", "warm-fuse-warm", "dense-al", "random"] else 9)
seeds = sorted({s for _, s in runs})
print("| method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd | selection s (per seed) | selection ÷ dense AL (per seed) |")
print("|---|" + "---|" * (len(seeds) + 3))
for m in methods:
    accs = [runs[(m, s)]["Status"]["Final"]["Accuracy"] * 100 for s in seeds if (m, s) in runs]
    sel = [selection(runs[(m, s)]["Status"]) for s in seeds if (m, s) in runs]
    ratio = [selection(runs[(m, s)]["Status"]) / selection(runs[("dense-al", s)]["Status"]) for s in seeds if (m, s) in runs and ("dense-al", s) in runs]
    sd = statistics.stdev(accs) if len(accs) > 1 else 0
    print(f"| {m} | " + " | ".join(f"{a:.2f}" for a in accs) + f" | {statistics.mean(accs):.2f} ± {sd:.2f}% | " + ", ".join(f"{x:.0f}" for x in sel) +
          " | " + (", ".join(f"{x:.2f}" for x in ratio) + (f" (mean {statistics.mean(ratio):.2f})" if ratio else "")) + " |")
for m in methods:
    if m == "dense-al":
        continue
    d = [runs[(m, s)]["Status"]["Final"]["Accuracy"] * 100 - runs[("dense-al", s)]["Status"]["Final"]["Accuracy"] * 100 for s in seeds if (m, s) in runs and ("dense-al", s) in runs]
    if d:
        print(f"| {m} − dense AL | " + " | ".join(f"{x:+.2f}" for x in d) + f" | {statistics.mean(d):+.2f} | | |")
for m in methods:
    for s in seeds:
        if (m, s) not in runs:
            continue
        st = runs[(m, s)]["Status"]
        stages = f"train {sum(x['SelectorTrainSeconds'] for x in st['Rounds']):.0f} s, score {sum(x['ScoringSeconds'] for x in st['Rounds']):.0f} s, final selector {final_selector(st):.0f} s, final training {st['Final']['TrainSeconds']:.0f} s, wall {runs[(m, s)]['WallSeconds']:.0f} s"
        print(f"{m} seed {s}: {stages}")
