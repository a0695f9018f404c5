"""Wall time and peak RSS of the feature step, the leak step and one training trial per algorithm at 1x, 2x and
5x the full benchmark size (one, two and five years of the 56 tickers' minute bars), so the growth is visible.

    nice -n 10 python benchmarks/bench_scale.py [--scales 1,2,5] [--ticker-batches 8] [--one-pass]
        [--leak-ticker-batches 1,8]
        [--algorithms xgboost,catboost,lightgbm,gru] [--rounds 50] [--epochs 1] [--max-rss-gb 12] [--keep]

Data: `/tmp/conviction-scale-<N>y` (bars/ and tweets/), generated when absent with
`python -m steps.sample_data --days <252 N> --tweet-rate 0.2 --by-ticker` (the full size's tweet rate; one
ticker at a time, so generating five years needs the memory of one ticker's five years).

Each step is a child process (`python -m steps.features | steps.leaks | steps.train`, default settings) on all
cores; its peak RSS is that child's own `ru_maxrss` (os.wait4 on its pid, so one child's peak never hides
another's), its wall time from start to exit. A watchdog polls the child's RSS every 0.2 s and stops it above
`--max-rss-gb` (the machine is shared: a one-pass build of five years would otherwise take what others need);
the row then says "stopped". The 1-minute load average is printed beside each figure: on a shared machine
it says how much of the wall time was someone else's.

Features: in turn (`--ticker-batches`, what the leak step and the trials read) and, with `--one-pass`, the
one-pass build for comparison. Leaks: once per `--leak-ticker-batches` entry (1: one pass; N: the bars read and
checked in N ticker batches in turn). Training: one trial = what a tuning job runs (walk-forward folds with early
stopping, then the refit on every row before the holdout), with the boosting rounds capped at `--rounds` and
the GRU at `--epochs` epochs so that a trial is bounded in time (a real trial runs up to 1000 rounds / 30 epochs
with early stopping: its time is this one's times the rounds it reaches, its memory about the same).
Prints figures; asserts nothing. Intermediate outputs go to a temporary folder, removed at the end unless
`--keep`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAYS_PER_YEAR = 252
HOURS = 3600  # the bound on any one child (a hang guard, far above the expected minutes)


@dataclass
class Measure:
    wall_s: float
    peak_gb: float
    load: float
    code: int
    stopped: bool
    tail: str

    def cell(self) -> str:
        if self.stopped:
            return f"stopped > {self.peak_gb:.1f} GB after {self.wall_s:.0f} s"
        if self.code != 0:
            return f"failed (exit {self.code})"
        return f"{self.wall_s:7.1f} s {self.peak_gb:5.2f} GB (load {self.load:.1f})"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}


def measure(command: list[str], *, env: dict[str, str], max_rss_gb: float, log: Path) -> Measure:
    """Run `command`, returning its wall time and its own peak RSS; stop it above `max_rss_gb`."""
    import psutil

    start = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    stopped = threading.Event()
    done = threading.Event()
    highest = [0.0]

    def watch() -> None:
        handle = psutil.Process(proc.pid)
        while not done.wait(0.2):
            try:
                rss = handle.memory_info().rss / 2**30
            except psutil.Error:
                return
            highest[0] = max(highest[0], rss)
            if rss > max_rss_gb or time.perf_counter() - start > HOURS:
                stopped.set()
                proc.kill()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    watcher.join(timeout=5)
    wall = time.perf_counter() - start
    peak = max(usage.ru_maxrss / 2**20, highest[0])  # ru_maxrss in KiB on Linux
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    return Measure(wall, peak, os.getloadavg()[0], proc.returncode, stopped.is_set(), tail)


def ensure_data(scale: int, root: Path) -> Path:
    folder = root / f"conviction-scale-{scale}y"
    if not (folder / "bars").is_dir() or not (folder / "tweets").is_dir():
        print(f"generating {scale} year(s) into {folder} ...", flush=True)
        subprocess.run([sys.executable, "-m", "steps.sample_data", "--output", str(folder), "--days",
                        str(DAYS_PER_YEAR * scale), "--tweet-rate", "0.2", "--by-ticker"],
                       check=True, cwd=ROOT, env=child_env(), timeout=HOURS)
    return folder


def trial_arguments(algorithm: str, rounds: int, epochs: int) -> list[str]:
    capped = {"xgboost": ["--num_round", str(rounds), "--early_stopping_rounds", "10"],
              "lightgbm": ["--num_round", str(rounds), "--early_stopping_rounds", "10"],
              "catboost": ["--iterations", str(rounds), "--early_stopping_rounds", "10"],
              "gru": ["--max_epochs", str(epochs), "--patience", "1"]}
    return ["--algorithm", algorithm, *capped[algorithm]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,2,5", help="years of the universe (1 = the full benchmark size)")
    parser.add_argument("--data-root", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--ticker-batches", type=int, default=8)
    parser.add_argument("--one-pass", action="store_true", help="also time the one-pass feature build")
    parser.add_argument("--leak-ticker-batches", default="1,8",
                        help="comma-separated --ticker-batches of the leak step, one run each (1: one pass)")
    parser.add_argument("--algorithms", default="xgboost,catboost,lightgbm,gru")
    parser.add_argument("--rounds", type=int, default=50, help="boosting rounds per fit in a trial (cap)")
    parser.add_argument("--epochs", type=int, default=1, help="GRU epochs per fit in a trial (cap)")
    parser.add_argument("--max-rss-gb", type=float, default=12.0)
    parser.add_argument("--skip", default="", help="comma-separated steps to leave out: leaks, train")
    parser.add_argument("--keep", action="store_true", help="keep the intermediate outputs")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    algorithms = [a for a in args.algorithms.split(",") if a]
    skip = set(args.skip.split(","))
    leak_batches = [int(n) for n in args.leak_ticker_batches.split(",") if n]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"cores: {len(os.sched_getaffinity(0))}, memory: {memory:.0f} GB, load at start: {os.getloadavg()[0]:.1f}; "
          f"trials capped at {args.rounds} rounds / {args.epochs} GRU epoch(s)", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results: dict[int, dict[str, Measure]] = {}
    sizes: dict[int, dict[str, int]] = {}
    try:
        for scale in scales:
            data = ensure_data(scale, args.data_root)
            out = scratch / f"{scale}y"
            out.mkdir()
            row: dict[str, Measure] = {}
            base = [sys.executable, "-m", "steps.features", "--bars", str(data / "bars"), "--tweets",
                    str(data / "tweets"), "--universe", str(ROOT / "configs" / "universe.csv")]
            if args.one_pass:
                row["features (one pass)"] = measure([*base, "--output", str(out / "one-pass")], env=child_env(),
                                                     max_rss_gb=args.max_rss_gb, log=out / "features-one-pass.log")
                shutil.rmtree(out / "one-pass", ignore_errors=True)
                print(f"{scale}y features (one pass): {row['features (one pass)'].cell()}", flush=True)
            label = f"features ({args.ticker_batches} batches)"
            row[label] = measure([*base, "--output", str(out / "features"), "--ticker-batches",
                                  str(args.ticker_batches)], env=child_env(), max_rss_gb=args.max_rss_gb,
                                 log=out / "features.log")
            print(f"{scale}y {label}: {row[label].cell()}", flush=True)
            if row[label].code != 0:
                print(f"  {row[label].tail}")
                results[scale] = row
                continue
            metrics = json.loads((out / "features" / "metrics.json").read_text())
            sizes[scale] = {"bars": metrics["bars"], "tweets": metrics["tweets"], "rows": metrics["rows"]["total"],
                            "features": metrics["features"]}
            print(f"  {sizes[scale]}", flush=True)
            for batches in leak_batches if "leaks" not in skip else []:
                name = "leaks (one pass)" if batches == 1 else f"leaks ({batches} batches)"
                row[name] = measure([sys.executable, "-m", "steps.leaks", "--features", str(out / "features"),
                                     "--bars", str(data / "bars"), "--tweets", str(data / "tweets"), "--output",
                                     str(out / f"leaks-{batches}"), "--ticker-batches", str(batches)],
                                    env=child_env(), max_rss_gb=args.max_rss_gb, log=out / f"leaks-{batches}.log")
                print(f"{scale}y {name}: {row[name].cell()}", flush=True)
            if "train" not in skip:
                for algorithm in algorithms:
                    folder = out / f"train-{algorithm}"
                    env = child_env({"SM_CHANNEL_TRAIN": str(out / "features"), "SM_MODEL_DIR": str(folder / "model"),
                                     "SM_OUTPUT_DATA_DIR": str(folder / "output"),
                                     "SM_INPUT_CONFIG_DIR": str(folder / "config")})
                    row[f"trial {algorithm}"] = measure(
                        [sys.executable, "-m", "steps.train", *trial_arguments(algorithm, args.rounds, args.epochs)],
                        env=env, max_rss_gb=args.max_rss_gb, log=out / f"train-{algorithm}.log")
                    print(f"{scale}y trial {algorithm}: {row[f'trial {algorithm}'].cell()}", flush=True)
                    shutil.rmtree(folder, ignore_errors=True)
            results[scale] = row
            if not args.keep:
                shutil.rmtree(out / "features", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    report(results, sizes, scales)


def report(results: dict[int, dict[str, Measure]], sizes: dict[int, dict[str, int]], scales: list[int]) -> None:
    steps = list(dict.fromkeys(name for row in results.values() for name in row))
    print("\n| step | " + " | ".join(f"{s}x ({s} y)" for s in scales) + " | wall / (scale x 1x wall) |")
    print("| --- |" + " --- |" * (len(scales) + 1))
    for name in steps:
        cells = [results.get(s, {}).get(name) for s in scales]
        first = cells[0]
        growth = []
        for s, cell in zip(scales, cells, strict=True):
            if first and cell and not cell.stopped and cell.code == 0 and first.code == 0 and s != scales[0]:
                growth.append(f"{s}x: {cell.wall_s / (first.wall_s * s / scales[0]):.2f}")
        print(f"| {name} | " + " | ".join(c.cell() if c else "-" for c in cells) + f" | {', '.join(growth) or '-'} |")
    for s in scales:
        if s in sizes:
            print(f"{s}x: {sizes[s]['bars']:,} bars, {sizes[s]['tweets']:,} tweets, {sizes[s]['rows']:,} decision rows "
                  f"x {sizes[s]['features']} features")


if __name__ == "__main__":
    main()
