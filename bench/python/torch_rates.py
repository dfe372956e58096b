"""PyTorch's own scoring and training rates for an exported PruneFuse network: the reference the scoring bench prints
beside its engines (`prunefuse-bench scoring --pytorch`).

usage: torch_rates.py MODEL.json IMAGES.u8 COUNT HEIGHT WIDTH BATCHES TRAIN_SAMPLES TRAIN_BATCH REPEATS THREADS

Scoring: eval mode, no_grad, the whole image file per pass at each batch size of BATCHES (comma-separated), after a
warm-up; the best batch's median rate. Training: one epoch of SGD (lr 0.1, momentum 0.9, weight decay 5e-4,
cross-entropy) over TRAIN_SAMPLES images in batches of TRAIN_BATCH; median over REPEATS epochs. Augmentation is
left out (it is a few percent of a step on these networks). THREADS: torch's intra-op threads (Debian's build
defaults to 1 here, so the bench passes its own count). Prints one JSON object.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# The bench copies prunefuse_model.py beside this script; in the source tree it is in tools/python.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_HERE, os.path.join(_HERE, "..", "..", "tools", "python")]
import prunefuse_model  # noqa: E402


def score_rate(model, x, batch):
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            logits = model(x[i:i + batch])
            probs = F.softmax(logits, dim=1)
            probs.max(dim=1)
    return x.shape[0] / (time.perf_counter() - start)


def train_rate(model, x, y, batch):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    order = torch.randperm(x.shape[0])
    seen = 0
    start = time.perf_counter()
    for i in range(0, x.shape[0], batch):
        idx = order[i:i + batch]
        if idx.numel() < 2:
            break
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        seen += idx.numel()
    rate = seen / (time.perf_counter() - start)
    model.eval()
    return rate


def train_phases(model, x, y, batch):
    """Median ms per sample of forward (with the loss), backward and the optimizer step, after one untimed step."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    phases = {"forward": [], "backward": [], "step": []}
    for i, start in enumerate([0] + list(range(0, x.shape[0] - batch + 1, batch))):
        xb, yb = x[start:start + batch], y[start:start + batch]
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i > 0:
            phases["forward"].append(t1 - t0)
            phases["backward"].append(t2 - t1)
            phases["step"].append(t3 - t2)
    model.eval()
    return {f"{k}MsPerSample": round(1000 * statistics.median(v) / batch, 3) for k, v in phases.items() if v}


def main():
    if len(sys.argv) != 11:
        sys.exit(__doc__)
    description, images = sys.argv[1], sys.argv[2]
    count, height, width = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    batches = [int(b) for b in sys.argv[6].split(",") if b]  # empty: training only
    train_samples, train_batch, repeats = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
    torch.set_num_threads(int(sys.argv[10]))
    torch.manual_seed(0)
    model, info = prunefuse_model.load(description)
    with open(images, "rb") as f:
        raw = bytearray(f.read())
    pixels = torch.frombuffer(raw, dtype=torch.uint8).reshape(count, info["inputChannels"], height, width)
    x = prunefuse_model.preprocess(pixels, info).contiguous()
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if count > 0 and batches:
        score_rate(model, x[:min(count, 256)], batches[0])  # warm-up: kernel selection, allocations
        sweep = {}
        for b in batches:
            sweep[str(b)] = round(score_rate(model, x, b), 1)
        best = max(batches, key=lambda b: sweep[str(b)])
        passes = [score_rate(model, x, best) for _ in range(repeats)]
        result["scoring"] = {"samplesPerSecond": round(statistics.median(passes), 1), "batchSize": best, "sweep": sweep}
    if train_samples > 0:
        n = min(train_samples, count)
        tx = x[:n]
        ty = torch.randint(0, info["numClasses"], (n,))
        train_rate(model, tx[:min(n, 2 * train_batch)], ty[:min(n, 2 * train_batch)], train_batch)  # warm-up
        passes = [train_rate(model, tx, ty, train_batch) for _ in range(repeats)]
        result["training"] = {"samplesPerSecond": round(statistics.median(passes), 1), "batchSize": train_batch,
                              "phases": train_phases(model, tx, ty, train_batch)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
