"""optical's batched Sinkhorn against POT and ott-jax, side by side in one run.

For each shape (B, n, m), epsilon and kind of cost (random unit vectors, structured embeddings
with a planted alignment, both with d = 384, and real: multilingual-e5-small token states of 256
English-Swahili verse pairs from the recipes' dev bitext) on ragged batches:

- time to reach a marginal L1 error <= 1e-4 (both marginals, worst item), or the error each
  solver reaches in ``--cap`` iterations. POT's solvers all run plain Sinkhorn, whose iterates
  do not depend on the implementation, so the iterations each item needs are computed once by
  a float64 reference loop here and every POT solver is run for exactly that many (per item in
  the per-item loops, the batch maximum in the batched solver), never more than ``--cap``;
  every returned plan's error is then measured independently in float64;
- ott-jax's Sinkhorn (when the ``bench`` extra is installed: ``pip install '.[bench]'``) with its
  own stopping rule at the same threshold, item by item under ``jit`` and batched under
  ``jit(vmap)``, compiled before the timing;
- the transport-loss error |<P, C> - <P*, C>| / <P*, C> (mean over items) that each POT solver
  reaches in the time optical takes to converge;
- forward plus backward time of optical's gradient modes;
- peak resident memory above the inputs, and time per iteration against this machine's
  memory-traffic floor: a two-pass Sinkhorn must read every cost (or kernel) entry once per
  half-step, 8 bytes per entry and iteration in float32; the floor is that traffic at the read
  bandwidth measured here on a tensor of the same size (``cost.sum()``).

The run checkpoints every row to ``benchmarks/results/sinkhorn.json`` and resumes from it;
``--fresh`` starts over. The table goes to ``benchmarks/results/sinkhorn.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import RESULTS, Checkpoint, PeakMemory, header  # noqa: E402

from optical.ot import cosine_cost, sinkhorn  # noqa: E402
from optical.ot.synthetic import planted_alignment  # noqa: E402

TOL = 1e-4
SHAPES = [(64, 32, 128), (256, 64, 256)]
EPSILONS = [0.05, 0.01]
KINDS = ["structured", "random"]  # structured first: the cases the solver is tuned for
DIM = 384
REAL_SHAPE = (256, 64, 64)  # English-Swahili verse pairs, at most 64 tokens a side


def make_real_problem(batch: int, max_tokens: int):
    """Cosine costs between multilingual-e5-small token states of real English-Swahili verse pairs.

    Needs the recipes (``python -m data_recipes.build``, ``python -m data_recipes.models``); the
    cost tensor is cached, so a resumed run sees the same problem.
    """
    from optical.cache import cache_dir

    cached = cache_dir("bench") / f"real_costs_{batch}x{max_tokens}.pt"
    if not cached.exists():
        from data_recipes.models import student_path
        from optical.distill.run import read_pairs
        from optical.models import Encoder

        bitext = sorted(cache_dir(create=False).glob("**/bitext/en-sw.dev.tsv"))
        if not bitext:
            raise SystemExit("real costs need: python -m data_recipes.build && python -m data_recipes.models")
        pairs = read_pairs(str(bitext[0]), "en", "sw", batch)
        encoder = Encoder.load(student_path(), max_length=max_tokens).eval()
        with torch.inference_mode():
            english = encoder.encode_tokens([p.src for p in pairs], kind="query")
            swahili = encoder.encode_tokens([p.tgt for p in pairs], kind="query")
        cost = cosine_cost(english.embeddings, swahili.embeddings, english.token_mask, swahili.token_mask)
        torch.save({"cost": cost, "mask_a": english.token_mask, "mask_b": swahili.token_mask}, cached)
    saved = torch.load(cached)
    return saved["cost"], saved["mask_a"], saved["mask_b"]


def make_problem(kind: str, batch: int, n: int, m: int, seed: int):
    """Float32 cost [B, n, m] (0 on padding), the masks and the uniform weights."""
    if kind == "real":
        cost, mask_a, mask_b = make_real_problem(batch, n)
        return cost, mask_a, mask_b, _uniform(mask_a), _uniform(mask_b)
    planted = planted_alignment(batch, n, m, DIM, seed=seed, aligned_fraction=0.8 if kind == "structured" else 0.0,
                                noise=0.5 if kind == "structured" else 0.0)
    if kind == "random":  # independent unit vectors on both sides
        generator = torch.Generator().manual_seed(seed + 1)
        x = torch.nn.functional.normalize(torch.randn(batch, n, DIM, generator=generator), dim=-1)
        planted.x = x.masked_fill(~planted.x_mask.unsqueeze(2), 0.0)
    cost = cosine_cost(planted.x, planted.y, planted.x_mask, planted.y_mask)
    return cost, planted.x_mask, planted.y_mask, _uniform(planted.x_mask), _uniform(planted.y_mask)


def _uniform(mask: torch.Tensor) -> torch.Tensor:
    return mask.float() / mask.sum(1, keepdim=True)


def marginal_error(plan: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-item L1 error of both marginals, in float64."""
    plan, a, b = plan.double(), a.double(), b.double()
    return (plan.sum(2) - a).abs().sum(1) + (plan.sum(1) - b).abs().sum(1)


def plain_iterations(cost: torch.Tensor, a: torch.Tensor, b: torch.Tensor, eps: float, cap: int) -> torch.Tensor:
    """Iterations plain Sinkhorn needs per item to reach TOL (float64 reference loop; ``cap`` if never)."""
    kernel = torch.exp(-cost.double() / eps) * (a.double() > 0).unsqueeze(2) * (b.double() > 0).unsqueeze(1)
    a64, b64 = a.double(), b.double()
    u, v = torch.ones_like(a64), torch.ones_like(b64)
    needed = torch.full((cost.shape[0],), cap, dtype=torch.long)
    for iteration in range(1, cap + 1):
        u = a64 / torch.bmm(kernel, v.unsqueeze(2)).squeeze(2).clamp_min(1e-300)
        v = b64 / torch.bmm(kernel.transpose(1, 2), u.unsqueeze(2)).squeeze(2).clamp_min(1e-300)
        rows = u * torch.bmm(kernel, v.unsqueeze(2)).squeeze(2)
        error = (rows - a64).abs().sum(1)  # columns are exact after the v-update
        newly = (error <= TOL) & (needed == cap)
        needed[newly] = iteration
        if bool((needed < cap).all()):
            break
    return needed


def run_optical(cost, mask_a, mask_b, eps):
    start = time.perf_counter()
    result = sinkhorn(cost, eps=eps, mask_a=mask_a, mask_b=mask_b, tol=TOL, max_iter=20_000)
    return time.perf_counter() - start, result.plan, result.iterations, int(result.item_iterations.sum())


def marginal_iteration_ms(cost, mask_a, mask_b, eps) -> float:
    """Steady-state cost of one iteration of optical's default solver: fixed-iteration solves of
    300 and 100 iterations at eps (no annealing), best of three each, differenced. Setup (the
    first log-domain sweep, kernel builds) cancels out; checks and absorptions stay in."""

    def best(iterations: int) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            sinkhorn(cost, eps=eps, mask_a=mask_a, mask_b=mask_b, tol=None, max_iter=iterations, eps_scaling=None)
            times.append(time.perf_counter() - start)
        return min(times)

    return (best(300) - best(100)) / 200 * 1e3


def run_pot_batch(cost, a, b, eps, iterations, method):
    import ot

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ot.batch.solve_batch(cost, eps, a, b, max_iter=int(iterations), tol=0.0, method=method, grad="detach")
    return time.perf_counter() - start, result.plan


def run_pot_loop(cost, mask_a, mask_b, eps, iterations, solver):
    """POT's numpy solver item by item on each item's real tokens (float32, as optical gets)."""
    plan = torch.zeros_like(cost)
    blocks = []
    for k in range(cost.shape[0]):
        n, m = int(mask_a[k].sum()), int(mask_b[k].sum())
        blocks.append((n, m, cost[k, :n, :m].numpy()))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, (n, m, block) in enumerate(blocks):
            result = solver(np.full(n, 1 / n, dtype=np.float32), np.full(m, 1 / m, dtype=np.float32), block, eps,
                            numItermax=int(iterations[k]), stopThr=0.0)
            plan[k, :n, :m] = torch.from_numpy(np.asarray(result, dtype=np.float32))
    return time.perf_counter() - start, plan


def ott_available() -> bool:
    try:
        import ott  # noqa: F401
    except ImportError:
        return False
    return True


def run_ott(cost, a, b, eps, batched: bool):
    """ott-jax's Sinkhorn (log-sum-exp mode, its default) at the same target: ``threshold`` on the
    L1 marginal error (``norm_error=1``), float32, padding as zero weights on a shared padded
    shape. ``batched``: one ``jit(vmap(solve))`` call; otherwise ``jit(solve)`` item by item.
    Compilation is done ahead of time and not timed. Returns (seconds, plan, iterations summed
    over items for the per-item loop, the batch maximum when batched)."""
    import jax
    import jax.numpy as jnp
    from ott.geometry import geometry
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn as ott_sinkhorn

    solver = ott_sinkhorn.Sinkhorn(threshold=TOL, max_iterations=20_000, norm_error=1)

    def solve(c, wa, wb):
        out = solver(linear_problem.LinearProblem(geometry.Geometry(cost_matrix=c, epsilon=eps), wa, wb))
        return out.matrix, out.n_iters

    costs, weights_a, weights_b = (jnp.asarray(t.numpy()) for t in (cost, a, b))
    if batched:
        compiled = jax.jit(jax.vmap(solve)).lower(costs, weights_a, weights_b).compile()
        start = time.perf_counter()
        plans, iterations = jax.block_until_ready(compiled(costs, weights_a, weights_b))
        seconds = time.perf_counter() - start
        return seconds, torch.from_numpy(np.asarray(plans)), int(np.max(iterations))
    compiled = jax.jit(solve).lower(costs[0], weights_a[0], weights_b[0]).compile()
    items = [(costs[k], weights_a[k], weights_b[k]) for k in range(cost.shape[0])]
    outputs = []
    start = time.perf_counter()
    for item in items:
        outputs.append(jax.block_until_ready(compiled(*item)))
    seconds = time.perf_counter() - start
    plan = torch.from_numpy(np.stack([np.asarray(p) for p, _ in outputs]))
    return seconds, plan, int(sum(int(n) for _, n in outputs))


def loss_error(plan, cost, reference):
    value = (plan.double() * cost.double()).sum((1, 2))
    return float(((value - reference).abs() / reference).mean())


def read_floor_ms(cost: torch.Tensor) -> float:
    """Time of the 8 bytes per entry an iteration must read, at this machine's measured bandwidth."""
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        cost.sum()
        best = min(best, time.perf_counter() - start)
    return 2 * best * 1e3


def gradient_rows(cost, mask_a, mask_b, eps, unrolled_iterations):
    rows = {}
    for mode in ("envelope", "implicit", "unrolled"):
        leaf = cost.clone().requires_grad_(True)
        options = dict(tol=None, max_iter=unrolled_iterations, eps_scaling=None) if mode == "unrolled" else {}
        with PeakMemory() as memory:
            start = time.perf_counter()
            result = sinkhorn(leaf, eps=eps, mask_a=mask_a, mask_b=mask_b, grad=mode, **options)
            result.cost.sum().backward()
            seconds = time.perf_counter() - start
        rows[mode] = {"seconds": seconds, "iterations": result.iterations, "peak_mb": memory.megabytes}
    return rows


def bench_one(ckpt: Checkpoint, kind, shape, eps, cap, seed, skip: frozenset[str] = frozenset()) -> None:
    """Measure one case; ``skip``: solver families (``POT``, ``ott-jax``) left out."""
    batch, n, m = shape
    base = f"{kind}|{batch}x{n}x{m}|eps={eps}"
    cost, mask_a, mask_b, a, b = make_problem(kind, batch, n, m, seed)
    print(f"== {base}", flush=True)
    if f"{base}|setup" not in ckpt:
        reference = sinkhorn(cost.double(), eps=eps, mask_a=mask_a, mask_b=mask_b, tol=1e-10, max_iter=200_000)
        needed = plain_iterations(cost, a, b, eps, cap)
        ckpt.put(f"{base}|setup", {
            "reference_cost": reference.cost.tolist(), "needed": needed.tolist(), "floor_ms": read_floor_ms(cost),
            "reference_converged": bool(reference.converged.all()),
        })
    setup = ckpt[f"{base}|setup"]
    reference = torch.tensor(setup["reference_cost"], dtype=torch.float64)
    needed = torch.tensor(setup["needed"])

    def record(name, seconds, plan, iterations, memory, **extra):
        error = marginal_error(plan, a, b)
        ckpt.put(f"{base}|{name}", {
            "seconds": seconds, "iterations": iterations, "max_error": float(error.max()),
            "reached_tol": bool((error <= TOL * 1.0001).all()), "loss_error": loss_error(plan, cost, reference),
            "peak_mb": memory.megabytes, "finite": bool(torch.isfinite(plan).all()), **extra,
        })
        row = ckpt[f"{base}|{name}"]
        print(f"   {name:28s} {seconds * 1e3:10.1f} ms  it={iterations:>6}  err={row['max_error']:.1e}  "
              f"peak={row['peak_mb']:.0f} MB", flush=True)

    import ot

    if f"{base}|optical" not in ckpt:
        run_optical(cost, mask_a, mask_b, eps)  # warm-up
        with PeakMemory() as memory:
            seconds, plan, iterations, item_iterations = run_optical(cost, mask_a, mask_b, eps)
        record("optical", seconds, plan, iterations, memory, item_iterations=item_iterations)
    if f"{base}|optical_marginal" not in ckpt:
        ckpt.put(f"{base}|optical_marginal", {"ms_per_iteration": marginal_iteration_ms(cost, mask_a, mask_b, eps)})
    budget = ckpt[f"{base}|optical"]["seconds"]
    pot_solvers = {
        "POT batch log_sinkhorn": lambda it: run_pot_batch(cost, a, b, eps, it, "log_sinkhorn"),
        "POT batch sinkhorn": lambda it: run_pot_batch(cost, a, b, eps, it, "sinkhorn"),
        "POT loop sinkhorn_log": lambda it: run_pot_loop(cost, mask_a, mask_b, eps, it, ot.bregman.sinkhorn_log),
        "POT loop sinkhorn": lambda it: run_pot_loop(cost, mask_a, mask_b, eps, it, ot.sinkhorn),
    }
    for name, solve in pot_solvers.items() if "POT" not in skip else ():
        batched = name.startswith("POT batch")
        iterations = int(needed.max()) if batched else needed
        if f"{base}|{name}" not in ckpt:
            with PeakMemory() as memory:
                seconds, plan = solve(iterations)
            record(name, seconds, plan, int(needed.max()) if batched else int(needed.sum()), memory)
        if f"{base}|{name}|budget" not in ckpt:
            row = ckpt[f"{base}|{name}"]
            per_iteration = row["seconds"] / max(1, row["iterations"])
            fit = max(1, int(budget / per_iteration)) if batched else None
            if batched:
                seconds, plan = solve(fit)
            else:  # the loop shares the budget evenly between items
                share = max(1, int(budget / per_iteration / batch))
                seconds, plan = solve(torch.full_like(needed, share))
                fit = share
            ckpt.put(f"{base}|{name}|budget", {"iterations": fit, "seconds": seconds,
                                               "loss_error": loss_error(plan, cost, reference)})
    if ott_available() and "ott-jax" not in skip:
        for name, batched in OTT_SOLVERS.items():
            if f"{base}|{name}" not in ckpt:
                with PeakMemory() as memory:
                    seconds, plan, iterations = run_ott(cost, a, b, eps, batched)
                record(name, seconds, plan, iterations, memory)
    if f"{base}|gradients" not in ckpt:
        ckpt.put(f"{base}|gradients", gradient_rows(cost, mask_a, mask_b, eps, unrolled_iterations=50))


SOLVERS = ["optical", "POT batch log_sinkhorn", "POT batch sinkhorn", "POT loop sinkhorn_log", "POT loop sinkhorn"]
OTT_SOLVERS = {"ott-jax per item jit": False, "ott-jax batch jit(vmap)": True}


def summary(ckpt: Checkpoint, problems: list[tuple[str, tuple[int, int, int]]]) -> list[str]:
    """One line per case: optical's time and every other solver's time as a multiple of it."""
    others = SOLVERS[1:] + list(OTT_SOLVERS)
    lines = ["| case | optical (ms) | " + " | ".join(others) + " |", "|---|---|" + "---|" * len(others)]
    for kind, shape in problems:
        for eps in EPSILONS:
            base = f"{kind}|{shape[0]}x{shape[1]}x{shape[2]}|eps={eps}"
            if f"{base}|optical" not in ckpt:
                continue
            mine = ckpt[f"{base}|optical"]["seconds"]
            cells = []
            for name in others:
                row = ckpt.rows.get(f"{base}|{name}")
                missed = "" if row is None or row["reached_tol"] else "*"
                cells.append("-" if row is None else f"{row['seconds'] / mine:.2f}x{missed}")
            lines.append(f"| {kind} {shape} eps={eps} | {mine * 1e3:.1f} | " + " | ".join(cells) + " |")
    lines.append("\nTimes as multiples of optical's (above 1: optical is faster); `*`: that solver's plan "
                 "missed the target.\n")
    return lines


def report(ckpt: Checkpoint, wall: float, cap: int, problems: list[tuple[str, tuple[int, int, int]]]) -> str:
    lines = [header("Batched Sinkhorn: optical against POT and ott-jax", wall)]
    lines.append(
        f"Ragged batches, d = {DIM}, float32 inputs for every solver; target: marginal L1 error <= {TOL} "
        f"(both marginals, worst item), measured here in float64 on each returned plan. POT solvers run "
        f"exactly the plain-Sinkhorn iterations each item needs (at most {cap}); `reached` says whether the "
        "plan met the target. ott-jax (a benchmark-only extra, `pip install '.[bench]'`) runs its own "
        f"stopping rule at threshold {TOL} on the L1 marginal error, item by item under `jit` or all at once "
        "under `jit(vmap)`, compiled ahead of the timing. `loss err @ budget`: mean relative transport-loss "
        "error each POT solver reaches in optical's time to converge. `it`: iterations of the batch; summed "
        "over items for POT loops and ott-jax per item; for optical `slowest item / sum over items` (each "
        "item stops on its own and leaves the batched work). `ms/it`: time of one iteration of every item. "
        "`x floor`: that over the memory-traffic floor (8 bytes per entry and iteration at the read "
        "bandwidth measured on this machine for a tensor of that size). optical runs its defaults "
        "(stabilized, eps_scaling=0.5, overrelaxation=1.8, tol=1e-4, check_every=5 on CPU).\n"
    )
    lines += summary(ckpt, problems)
    missing = [f"{kind} {shape} eps={eps}" for kind, shape in problems for eps in EPSILONS
               if f"{kind}|{shape[0]}x{shape[1]}x{shape[2]}|eps={eps}|gradients" not in ckpt]
    if missing:
        lines.append(f"Not measured yet (rerun the command to resume): {', '.join(missing)}.\n")
    lines.append(f"Load average over the last 15 minutes when the tables were written: {os.getloadavg()[2]:.1f} "
                 f"on {os.cpu_count()} cores, this benchmark's own threads included (well above the core count: "
                 "other jobs shared the machine, and every time here is inflated, unevenly).\n")
    for kind, shape in problems:
        for eps in EPSILONS:
            base = f"{kind}|{shape[0]}x{shape[1]}x{shape[2]}|eps={eps}"
            if f"{base}|optical" not in ckpt:
                continue
            setup = ckpt[f"{base}|setup"]
            floor = setup["floor_ms"]
            mine = ckpt[f"{base}|optical"]
            lines.append(f"\n## {kind} costs, (B, n, m) = {shape}, eps = {eps}\n")
            lines.append(f"Plain Sinkhorn needs {min(setup['needed'])}-{max(setup['needed'])} iterations per item "
                         f"(cap {cap}); floor {floor:.3f} ms per iteration.")
            if f"{base}|optical_marginal" in ckpt:
                steady = ckpt[f"{base}|optical_marginal"]["ms_per_iteration"]
                lines.append(f"optical's steady-state iteration (300 minus 100 fixed iterations): {steady:.3f} ms, "
                             f"{steady / floor:.2f} x floor; the `ms/it` column below also spreads setup (first "
                             "log-domain sweep, one kernel build per epsilon stage) over the iterations.")
            lines.append("")
            lines.append("| solver | time (ms) | vs optical | it | max marginal err | reached | "
                         "loss err @ budget | ms/it | x floor | peak MB |")
            lines.append("|---|---|---|---|---|---|---|---|---|---|")
            for name in SOLVERS + list(OTT_SOLVERS):
                if f"{base}|{name}" not in ckpt:
                    continue
                row = ckpt[f"{base}|{name}"]
                batch = shape[0]
                # Solvers that stop each item on its own: time of one iteration of every item.
                per_item = name.startswith("POT loop") or "per item" in name
                work = row["iterations"] if not per_item else row["iterations"] / batch
                if name == "optical":
                    work = row["item_iterations"] / batch
                per_it = row["seconds"] * 1e3 / max(1e-9, work)
                budget_row = row if name == "optical" else ckpt.rows.get(f"{base}|{name}|budget")
                budget_error = "-" if budget_row is None else f"{budget_row['loss_error']:.1e}"
                ratio = row["seconds"] / mine["seconds"]
                iterations = row["iterations"]
                if name == "optical":
                    iterations = f"{row['iterations']} / {row['item_iterations']}"
                lines.append(
                    f"| {name} | {row['seconds'] * 1e3:.1f} | {ratio:.1f}x | {iterations} | "
                    f"{row['max_error']:.1e} | {'yes' if row['reached_tol'] else 'no'} | {budget_error} | "
                    f"{per_it:.3f} | {per_it / floor:.1f} | {row['peak_mb']:.0f} |"
                )
            grads = ckpt.rows.get(f"{base}|gradients", {})
            lines.append("\n| gradient mode (optical) | forward+backward (ms) | iterations | peak MB |")
            lines.append("|---|---|---|---|")
            for mode, row in grads.items():
                seconds, iterations, peak = row["seconds"], row["iterations"], row["peak_mb"]
                lines.append(f"| {mode} | {seconds * 1e3:.1f} | {iterations} | {peak:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cap", type=int, default=1000, help="iteration cap for POT's solvers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="ignore the checkpoint and start over")
    parser.add_argument("--out", type=Path, default=RESULTS / "sinkhorn")
    parser.add_argument("--shapes", nargs="+", default=None, help="e.g. 64x32x128 (default: both shapes)")
    parser.add_argument("--no-real", action="store_true", help="skip the costs from real verse pairs")
    parser.add_argument("--skip", nargs="+", default=[], choices=["POT", "ott-jax"],
                        help="solver families to leave out (their cells stay empty until a run without it)")
    parser.add_argument("--report-only", action="store_true",
                        help="write the tables from the checkpoint's finished cases without measuring more")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    shapes = SHAPES if args.shapes is None else [tuple(int(v) for v in s.split("x")) for s in args.shapes]
    ckpt = Checkpoint(args.out.with_suffix(".json"), fresh=args.fresh)
    start = time.perf_counter()
    problems = [(kind, shape) for kind in KINDS for shape in shapes]
    if not args.no_real:
        problems.append(("real", REAL_SHAPE))
    for kind, shape in problems:
        for eps in EPSILONS:
            if not args.report_only:
                bench_one(ckpt, kind, shape, eps, args.cap, args.seed, frozenset(args.skip))
    # Wall time summed over the runs that built the checkpoint (a resumed run adds to it).
    wall = ckpt.rows.get("wall", {}).get("seconds", 0.0) + time.perf_counter() - start
    ckpt.put("wall", {"seconds": wall})
    text = report(ckpt, wall, args.cap, problems)
    args.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
