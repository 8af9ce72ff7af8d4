"""What Shampoo's and SOAP's periodic refresh costs: the refresh step, the other steps, and the
mean over one period, beside Optax's Adam on the same matrix (one process, interleaved rounds).

Both refresh their preconditioners every ``precondition_frequency`` steps inside the jitted
step (a ``lax.cond``), so a period holds one expensive step and ``k - 1`` cheap ones. Each round
times one whole period of each optimizer step by step; the table gives medians over rounds and
each optimizer's mean step over Adam's median step.

    python benchmarks/cadence.py --size 256 --frequency 10 --rounds 7
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import common
import jax
import jax.numpy as jnp
import optax

import gradxform as gx


def period_times(update, params, state, grads, frequency: int) -> tuple[list[float], object]:
    """Seconds of each of ``frequency`` jitted steps, and the state after them."""
    times = []
    for _ in range(frequency):
        start = time.perf_counter()
        updates, state = update(grads, state, params)
        jax.block_until_ready(updates)
        times.append(time.perf_counter() - start)
    return times, state


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="the matrix is size x size (default 256)")
    parser.add_argument("--frequency", type=int, default=10, help="precondition_frequency, >= 2 (default 10)")
    parser.add_argument("--rounds", type=int, default=7, help="timed periods per optimizer (default 7)")
    args = parser.parse_args(argv)
    params = {"w": jax.random.normal(jax.random.PRNGKey(0), (args.size, args.size)) * 0.02}
    grads = {"w": jax.random.normal(jax.random.PRNGKey(1), (args.size, args.size)) * 1e-3}
    optimizers = {
        "shampoo": gx.shampoo(1e-3, precondition_frequency=args.frequency),
        "soap": gx.soap(1e-3, precondition_frequency=args.frequency),
        "adam (gradxform)": gx.adam(1e-3),
        "adam (optax)": optax.adam(1e-3),
    }
    updates = {name: jax.jit(opt.update) for name, opt in optimizers.items()}
    states = {}
    for name, opt in optimizers.items():  # compile, and take the first refresh out of the timing
        _, states[name] = period_times(updates[name], params, opt.init(params), grads, args.frequency)
    samples: dict[str, list[list[float]]] = {name: [] for name in optimizers}
    for _ in range(args.rounds):
        for name in optimizers:
            times, states[name] = period_times(updates[name], params, states[name], grads, args.frequency)
            samples[name].append(times)
    # Adam's steps are all alike: its median step (robust to a stray slow one) is the unit.
    adam = statistics.median(t for times in samples["adam (optax)"] for t in times)
    rows = []
    for name, periods in samples.items():
        refresh = statistics.median(max(times) for times in periods)  # the period's refresh
        others = statistics.median((sum(times) - max(times)) / (len(times) - 1) for times in periods)
        mean = statistics.median(statistics.fmean(times) for times in periods)
        rows.append([name, f"{refresh * 1e3:.2f}", f"{others * 1e3:.2f}", f"{mean * 1e3:.2f}", f"{mean / adam:.1f}"])
    print(f"{args.size} x {args.size} float32, precondition_frequency={args.frequency}, {args.rounds} periods; "
          f"{common.machine()}")
    print(common.render(["optimizer", "refresh step ms", "other steps ms", "mean step ms", "mean / Optax Adam's step"],
                        rows))
    return 0


if __name__ == "__main__":
    jnp.zeros(())
    sys.exit(main())
