#!/usr/bin/python3
"""trajectory_vs_torch.py - repeat alig's first ALI-G steps (written by build/.../bench/trajectory)
with the PyTorch peer's model and ALI-G (torch_fmnist.py, one of the PyTorch peer scripts: not
part of this repository; --peer or ALIG_PEER gives its path) from the same weights on the same
batches, and compare them step by step: mini-batch loss, ||g||^2, step size, and the weights
after the last step.

Both run in float32 with different kernels and summation orders (alig: OpenBLAS sgemm, Winograd
convolutions, sums in double; PyTorch: oneDNN), so they agree to rounding at the first step and
drift apart slowly as the steps compound that rounding. Where an activation lies within rounding
of a ReLU's kink (or of a max-pool tie), the two may take opposite sides of it; in a deep net
one such element moves the gradients of every layer below it by ~1e-3, so the gradient check
at x0 has a looser default than the loss check.

Usage: trajectory_vs_torch.py DIR [--threads T] [--peer PATH] [--tol-loss X] [--tol-grad Y] [--tol-all Z]
Exit status 1 if at x0 the loss differs by more than --tol-loss (relative, default 1e-5) or the
gradient by more than --tol-grad (|g_alig - g_torch| / |g_torch|, default 1e-2), or if any later
step's loss differs by more than --tol-all (relative, default 2e-2).
"""
import argparse
import importlib.util
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=2)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--peer", default=os.environ.get("ALIG_PEER",
                                                     os.path.join(here, "..", "..", "shared", "peers", "torch_fmnist.py")))
    ap.add_argument("--tol-loss", type=float, default=1e-5)
    ap.add_argument("--tol-grad", type=float, default=1e-2)
    ap.add_argument("--tol-all", type=float, default=2e-2)
    a = ap.parse_args()

    spec = importlib.util.spec_from_file_location("torch_fmnist", a.peer)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    torch.set_num_threads(a.threads)

    meta = dict(line.strip().split("=", 1) for line in open(os.path.join(a.dir, "meta.txt")) if "=" in line)
    model_name, n, steps, B = meta["model"], int(meta["n"]), int(meta["steps"]), int(meta["batch"])
    eta, mu = float(meta["eta"]), float(meta["momentum"])
    x0 = np.fromfile(os.path.join(a.dir, "x0.f32"), dtype=np.float32)
    xT = np.fromfile(os.path.join(a.dir, "xT.f32"), dtype=np.float32)
    g1 = np.fromfile(os.path.join(a.dir, "g1.f32"), dtype=np.float32)
    xb = np.fromfile(os.path.join(a.dir, "batches.f32"), dtype=np.float32).reshape(steps, B, 1, 28, 28)
    yb = np.fromfile(os.path.join(a.dir, "labels.i32"), dtype=np.int32).reshape(steps, B).astype(np.int64)
    rows = np.genfromtxt(os.path.join(a.dir, "alig.csv"), delimiter=",", names=True)
    if x0.size != n or xT.size != n or g1.size != n or rows.size != steps:
        sys.exit(f"trajectory_vs_torch: {a.dir}: sizes do not match meta.txt")

    def torch_run(x_init):
        """PyTorch's trajectory from x_init: per step (loss, ||g||^2, step size), g at x_init, final x."""
        model = peer.build_model(model_name)
        params = list(model.parameters())
        if sum(p.numel() for p in params) != n:
            sys.exit(f"trajectory_vs_torch: the peer's {model_name} has {sum(p.numel() for p in params)} "
                     f"parameters, alig's {n}")
        with torch.no_grad():   # alig's x is PyTorch's parameters() in order, each tensor row-major
            o = 0
            for p in params:
                p.copy_(torch.from_numpy(x_init[o:o + p.numel()].reshape(p.shape)))
                o += p.numel()
        model.train()
        opt = peer.ALIG(model.parameters(), max_lr=eta if np.isfinite(eta) else None, momentum=mu)
        rec, g_first = [], None
        for t in range(steps):
            loss = F.cross_entropy(model(torch.from_numpy(xb[t])), torch.from_numpy(yb[t]))
            opt.zero_grad()
            loss.backward()
            if t == 0:
                g_first = torch.cat([p.grad.flatten() for p in params]).double().numpy()
            gsq = float(sum((p.grad.double() ** 2).sum() for p in params))
            lv = loss.item()
            opt.step(lambda: lv)
            rec.append((lv, gsq, opt.step_size))
        names = [(name, p.numel()) for name, p in model.named_parameters()]
        return rec, g_first, torch.cat([p.detach().flatten() for p in params]).double().numpy(), names

    # The noise floor: PyTorch against itself from x0 with every weight moved by ~1e-7 relative
    # (one float rounding), which the dynamics amplify just as they amplify alig's rounding.
    x0p = (x0.astype(np.float64) * (1.0 + 1e-7 * np.random.default_rng(1).standard_normal(n))).astype(np.float32)
    tr, gt, xt, names = torch_run(x0)
    tp, gp, xp, _ = torch_run(x0p)

    print(f"{model_name}: {n} parameters, {steps} steps of batch {B}, ALI-G eta {eta:g} momentum {mu:g}, "
          f"torch {torch.__version__} ({a.threads} threads); 'floor' = PyTorch against itself from x0 rounded "
          f"differently (1e-7)")
    print(f"{'step':>4s} {'loss alig':>11s} {'loss torch':>11s} {'rel':>8s} {'floor':>8s} {'|g|^2 rel':>9s} "
          f"{'floor':>8s} {'step alig':>9s} {'step torch':>10s}")
    worst_loss, worst_floor = 0.0, 0.0
    for t in range(steps):
        r = rows[t]
        dl, fl = rel(r["loss"], tr[t][0]), rel(tp[t][0], tr[t][0])
        dg, fg = rel(r["grad_sumsq"], tr[t][1]), rel(tp[t][1], tr[t][1])
        worst_loss, worst_floor = max(worst_loss, dl), max(worst_floor, fl)
        if t < 5 or t == steps - 1 or (t + 1) % max(1, steps // 10) == 0:
            print(f"{t + 1:4d} {r['loss']:11.7f} {tr[t][0]:11.7f} {dl:8.1e} {fl:8.1e} {dg:9.1e} {fg:8.1e} "
                  f"{r['step_size']:9.6f} {tr[t][2]:10.6f}")
    loss0 = rel(rows[0]["loss"], tr[0][0])
    grad0 = float(np.linalg.norm(g1 - gt) / np.linalg.norm(gt))
    grad0_floor = float(np.linalg.norm(gp - gt) / np.linalg.norm(gt))
    worst_tensor, o = ("", 0.0), 0
    for name, k in names:
        e = float(np.linalg.norm(g1[o:o + k] - gt[o:o + k]) / max(np.linalg.norm(gt[o:o + k]), 1e-30))
        o += k
        if e > worst_tensor[1]:
            worst_tensor = (name, e)
    dx = float(np.linalg.norm(xT.astype(np.float64) - xt) / np.linalg.norm(xt))
    dx_floor = float(np.linalg.norm(xp - xt) / np.linalg.norm(xt))
    moved = float(np.linalg.norm(xt - x0.astype(np.float64)) / np.linalg.norm(xt))
    print(f"at x0: loss differs by {loss0:.1e} (tolerance {a.tol_loss:g}), gradient by {grad0:.1e} "
          f"(tolerance {a.tol_grad:g}; floor {grad0_floor:.1e}; worst tensor {worst_tensor[0]} {worst_tensor[1]:.1e})")
    print(f"all {steps} steps: loss within {worst_loss:.1e} (tolerance {a.tol_all:g}; floor {worst_floor:.1e})")
    print(f"weights after step {steps}: |x_alig - x_torch| / |x_torch| = {dx:.1e} (floor {dx_floor:.1e}), while "
          f"the weights moved {moved:.1e} of their norm")
    ok = loss0 <= a.tol_loss and grad0 <= a.tol_grad and worst_loss <= a.tol_all
    print("agreement: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
