"""lstm_vs_torch.py - alig's Bi-LSTM + max-pooling encoder against PyTorch's nn.LSTM, same weights,
same padded batch (called by lstm_vs_torch.sh; run with /usr/bin/python3, which has torch).

For each case (T, B, X, H, seed): torch.manual_seed(seed) draws a bidirectional nn.LSTM with
PyTorch's own initialisation, a batch x (T,B,X) ~ N(0,1), lengths in [1, T] (one of them T), and
weights r (B,2H), r2 (T,B,2H) ~ U(-1,1) with r2 = 0 at padded steps. The case file goes to
lstm_check (alig, composed cell, then fused cell); PyTorch runs the same numbers through
pack_padded_sequence / nn.LSTM / pad_packed_sequence, in float64 (the reference) and float32
(the rounding floor: what float32 arithmetic alone does to the same function). Both compute
L = sum(r * maxpool_t(y)) + sum(r2 * y), y the (T,B,2H) output, max over each sample's real steps,
and its gradient with respect to all eight LSTM tensors and to x.

Compared, each as max|a - d| / max|d| over the group (y at real steps only, since padded steps are 0
in PyTorch and hold the frozen state in alig): y, the pooled (B,2H), L, and each gradient tensor.
Tolerance per group: alig's error against float64 <= max(TOL_FLOOR_FACTOR x PyTorch float32's own
error, TOL_ABS). PyTorch float32 and alig both round in float32 but sum in different orders (cuDNN-
free CPU kernels, OpenBLAS sgemm), so alig may land anywhere within a few times the peer's float32
error; 10x leaves room for that without hiding a wrong formula, which shows as 1e-2 or more (a
swapped gate block, a missing bias, an unreversed backward direction all give O(1) errors).
TOL_ABS = 1e-6 covers groups where PyTorch float32 happens to be almost exact (e.g. the loss).
Also reported: the smallest gap between the two largest values of a pooled column (float64), since
a near-tie could make float32 pick another step: it must exceed 10x float32's absolute error on y.
Negative control: PyTorch on the same weights without the lengths (padding read as input, so the
reverse direction starts in the padding) must differ from alig by more than 1e-2.
Exit status 1 when a group is past its tolerance.

Speed (information, no threshold): seconds per training pass (forward + backward of the same encoder
and loss) of alig (composed and fused cells) and of PyTorch float32 (packed sequences), one thread
each, same sizes and length rule (lengths in [T/2, T]), the median of REPS passes after 2 warm-ups."""
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch

TOL_FLOOR_FACTOR = 10.0
TOL_ABS = 1e-6
NAMES = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
         "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"]


def make_case(T, B, X, H, seed):
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(X, H, bidirectional=True)          # PyTorch's initialisation, float32
    x = torch.randn(T, B, X)
    lengths = torch.randint(1, T + 1, (B,))
    lengths[torch.randint(0, B, (1,))] = T
    r = torch.rand(B, 2 * H) * 2 - 1
    mask = (torch.arange(T)[:, None] < lengths[None, :])
    r2 = (torch.rand(T, B, 2 * H) * 2 - 1) * mask[..., None]
    w = [getattr(lstm, n).detach().clone() for n in NAMES]
    return dict(T=T, B=B, X=X, H=H, w=w, x=x, lengths=lengths, r=r, r2=r2, mask=mask)


def write_case(c, path):
    with open(path, "wb") as f:
        f.write(struct.pack("<4i", c["T"], c["B"], c["X"], c["H"]))
        for t in c["w"] + [c["x"], c["lengths"].float(), c["r"], c["r2"]]:
            f.write(t.contiguous().numpy().astype("<f4").tobytes())


def torch_run(c, dtype, pack=True):
    T, B, X, H = c["T"], c["B"], c["X"], c["H"]
    lstm = torch.nn.LSTM(X, H, bidirectional=True).to(dtype)
    with torch.no_grad():
        for n, t in zip(NAMES, c["w"]):
            getattr(lstm, n).copy_(t.to(dtype))
    x = c["x"].to(dtype).clone().requires_grad_(True)
    if pack:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, c["lengths"], enforce_sorted=False)
        out, _ = lstm(packed)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    else:                                   # the control: padding read as input, no lengths
        y, _ = lstm(x)
    pooled = y.masked_fill(~c["mask"][..., None], float("-inf")).max(0).values
    L = (c["r"].to(dtype) * pooled).sum() + (c["r2"].to(dtype) * y).sum()
    L.backward()
    g = [getattr(lstm, n).grad.double().numpy() for n in NAMES]
    # the two biases enter as one sum: their gradients agree up to PyTorch's own summation order
    assert rel(g[2], g[3]) < 1e-5 and rel(g[6], g[7]) < 1e-5, "bias_ih and bias_hh gradients differ"
    grads = [g[0], g[1], g[2], g[4], g[5], g[6], x.grad.double().numpy()]
    return dict(L=L.item(), y=y.detach().double().numpy(), pooled=pooled.detach().double().numpy(), grads=grads)


def read_alig(c, path):
    T, B, X, H = c["T"], c["B"], c["X"], c["H"]
    a = np.fromfile(path, "<f8")
    o = 0

    def take(shape):
        nonlocal o
        n = int(np.prod(shape))
        v = a[o:o + n].reshape(shape)
        o += n
        return v
    L = take((1,))[0]
    y = take((T, B, 2 * H))
    pooled = take((B, 2 * H))
    grads = []
    for _ in range(2):
        grads += [take((4 * H, X)), take((4 * H, H)), take((4 * H,))]
    grads.append(take((T, B, X)))
    assert o == a.size, "alig output has %d values, expected %d" % (a.size, o)
    return dict(L=L, y=y, pooled=pooled, grads=[grads[0], grads[1], grads[2], grads[3], grads[4], grads[5], grads[6]])


def rel(a, d):
    return float(np.abs(np.asarray(a) - np.asarray(d)).max() / max(np.abs(np.asarray(d)).max(), 1e-300))


def groups(run, mask):
    m = mask.numpy()
    g = {"y (real steps)": run["y"][m], "pooled": run["pooled"], "loss": np.array([run["L"]])}
    labels = ["d weight_ih", "d weight_hh", "d bias", "d weight_ih_rev", "d weight_hh_rev", "d bias_rev", "d x"]
    for k, v in zip(labels, run["grads"]):
        g[k] = v
    return g


def torch_speed(T, B, X, H, reps):
    torch.set_num_threads(1)
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(X, H, bidirectional=True)
    lo = max(T // 2, 1)
    lengths = torch.tensor([T if b == 0 else lo + ((b * 2654435761) % 2**32 >> 8) % (T - lo + 1) for b in range(B)])
    mask = (torch.arange(T)[:, None] < lengths[None, :])
    x = (torch.rand(T, B, X) * 2 - 1).requires_grad_(True)
    r = torch.rand(B, 2 * H) - 0.5
    r2 = torch.rand(T, B, 2 * H) - 0.5
    ts = []
    for k in range(reps + 2):
        t0 = time.perf_counter()
        lstm.zero_grad()
        out, _ = lstm(torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False))
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
        pooled = y.masked_fill(~mask[..., None], float("-inf")).max(0).values
        ((r * pooled).sum() + (r2 * y).sum()).backward()
        if k >= 2:
            ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


def speed(chk, reps=5):
    print("\n== speed, 1 thread, seconds per training pass (median of %d) ==" % reps)
    print("%-22s %-10s %-10s %-10s %-22s %s" % ("T, B, X, H", "alig", "alig fused", "PyTorch", "PyTorch / alig fused",
                                               "alig graph MiB (fused)"))
    for (T, B, X, H) in [(20, 32, 100, 128), (20, 64, 300, 256)]:
        a, mb = [], 0.0
        for mode in ([], ["fused"]):
            res = subprocess.run([chk, "speed", str(T), str(B), str(X), str(H), str(reps)] + mode,
                                 capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            info = json.loads(res.stdout.strip().splitlines()[-1][len("RESULT "):])
            a.append(info["sec_per_pass"])
            mb = info["graph_mb"]
        p = torch_speed(T, B, X, H, reps)
        print("%-22s %-10.4f %-10.4f %-10.4f %-22.2f %.0f" % ("%d, %d, %d, %d" % (T, B, X, H), a[0], a[1], p, p / a[1],
                                                            mb))


def main():
    chk = sys.argv[1]
    tmp = sys.argv[2]
    cases = [(12, 6, 10, 16, 1), (30, 16, 50, 64, 2)]
    fail = 0
    print("tolerance per group: alig vs float64 <= max(%g x (PyTorch float32 vs float64), %g)" % (TOL_FLOOR_FACTOR, TOL_ABS))
    for (T, B, X, H, seed) in cases:
        c = make_case(T, B, X, H, seed)
        write_case(c, tmp + "/case.bin")
        d = torch_run(c, torch.float64)
        f = torch_run(c, torch.float32)
        # pooled columns: gap between the two largest values over real steps (float64)
        ym = np.where(c["mask"].numpy()[..., None], d["y"], -np.inf)
        top2 = np.sort(ym, axis=0)[-2:]
        gaps = top2[1] - top2[0]
        gap = float(gaps[np.isfinite(gaps)].min())
        yerr = float(np.abs(f["y"] - d["y"])[c["mask"].numpy()].max())     # float32's absolute error on y
        print("\n== case T=%d B=%d X=%d H=%d seed=%d, lengths %s ==" % (T, B, X, H, seed, c["lengths"].tolist()))
        print("smallest pooling gap %.1e, float32 error on y %.1e (the gap must be 10 x larger)" % (gap, yerr))
        gd, gf = groups(d, c["mask"]), groups(f, c["mask"])
        for mode in ("composed", "fused"):
            args = [chk, tmp + "/case.bin", tmp + "/alig.bin"] + (["fused"] if mode == "fused" else [])
            res = subprocess.run(args, capture_output=True, text=True)
            if res.returncode != 0:
                print("lstm_check failed:", res.stderr.strip())
                return 1
            info = json.loads(res.stdout.strip().splitlines()[-1][len("RESULT "):])
            ga = groups(read_alig(c, tmp + "/alig.bin"), c["mask"])
            print("alig %s cell (%d nodes):" % (mode, info["nodes"]))
            print("  %-18s %-12s %-12s %-12s %s" % ("group", "alig err", "torch32 err", "tolerance", "verdict"))
            for k in gd:
                ea, ef = rel(ga[k], gd[k]), rel(gf[k], gd[k])
                tol = max(TOL_FLOOR_FACTOR * ef, TOL_ABS)
                ok = ea <= tol
                fail |= not ok
                print("  %-18s %-12.2e %-12.2e %-12.2e %s" % (k, ea, ef, tol, "ok" if ok else "FAIL"))
        if gap < 10 * yerr:
            print("pooling gap too small: float32 may pool another step, the comparison is not meaningful")
            fail = 1
        # negative control: the same weights through PyTorch WITHOUT the lengths must be far from alig
        gn = groups(torch_run(c, torch.float64, pack=False), c["mask"])
        ctl = max(rel(ga[k], gn[k]) for k in ("pooled", "d weight_ih_rev"))
        print("control: PyTorch without lengths (padding read as input) vs alig: %.2e (must exceed 1e-2)" % ctl)
        fail |= not ctl > 1e-2
    speed(chk)
    print("\n%s" % ("FAIL" if fail else "PASS"))
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
