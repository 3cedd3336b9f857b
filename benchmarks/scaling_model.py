#!/usr/bin/env python3
"""The projection in docs/scaling.md: the paper's DistAug recipe on P nodes, data-parallel.

Inputs are measured (a ResNet-18 train step on this machine) or counted (weights, steps); the
ring all-reduce moves 2 (P - 1) / P of the gradient buffer per rank per step, plus 2 (P - 1)
message latencies; compute divides evenly over the ranks (optimistic for small per-rank batches).
  python3 benchmarks/scaling_model.py [--step-s 1.87] [--weights 13.3e6]
"""
import argparse

ap = argparse.ArgumentParser()
ap.add_argument("--step-s", type=float, default=256 / 137.0, help="one node's seconds per step (256 images at 137 images/s)")
ap.add_argument("--weights", type=float, default=13.3e6, help="ResNet-18 + 8 x 512 head")
ap.add_argument("--steps", type=float, default=2048 * 5000 // 32, help="2048 epochs of 5000 images at batch 32")
ap.add_argument("--latency-s", type=float, default=10e-6)
a = ap.parse_args()

grad_bytes = 4 * a.weights
print(f"gradient buffer {grad_bytes / 1e6:.0f} MB, {a.steps:.0f} steps, one node {a.step_s:.2f} s / step")
print("nodes | " + " | ".join(f"{g} Gbit/s: s/step, wall" for g in (10, 100)))
for P in (1, 2, 4, 8, 16, 22, 32):
    row = []
    for gbit in (10, 100):
        comm = 0.0 if P == 1 else 2 * (P - 1) / P * grad_bytes / (gbit * 1e9 / 8) + 2 * (P - 1) * a.latency_s
        step = a.step_s / P + comm
        wall_h = step * a.steps / 3600
        row.append(f"{step:.3f} s, {wall_h:.1f} h ({wall_h / 24:.1f} d), comm {comm * 1e3:.1f} ms")
    print(f"{P:5d} | " + " | ".join(row))
