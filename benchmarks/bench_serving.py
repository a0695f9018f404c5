"""Serving latency: 1,000 sequential POST /invocations to a real `python -m steps.serve` process, one row
each, against the same model scored in-process (no HTTP) on the same rows: the difference is the HTTP
and parsing overhead. Prints figures; asserts nothing except that no request failed.

    .venv/bin/python benchmarks/bench_serving.py --model-dir DIR [--requests 1000] [--rows-per-request 1]

With --load, serving under load instead (benchmarks/serving_load.py): 20/50/200 concurrent clients, each
on its own keep-alive connection and then with a fresh connection per request, plus idle connections,
against this checkout's server (AFTER) and the server of --before-rev (BEFORE), in one run:

    .venv/bin/python benchmarks/bench_serving.py --load [--clients 20,50,200] [--per-client 20] [--idle 800]
        [--before-rev bb4ba32] [--waitress-path DIR] [--servers BEFORE,AFTER] [--serve-args "--workers 4"]

--waitress-path: a folder holding the waitress package (`pip install --target DIR waitress`), to measure
the same model behind waitress as well; waitress is not a dependency of this project.

DIR: steps.ensemble's output (model.tar.gz + smoke_rows.parquet). Without --model-dir, a tiny ensemble
is built first on generated data (about 10 s).
"""

from __future__ import annotations

import argparse
import http.client
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.deployment.invoker import LocalServeInvoker
from steps.serve.model import load_artifact


def build_tiny_ensemble(root: Path) -> Path:
    from steps.ensemble.run import run_ensemble
    from steps.evaluate.run import run_evaluation
    from steps.features.run import run_features
    from steps.features.settings import FeatureSettings
    from steps.sample_data.generator import generate_market
    from steps.sample_data.writer import write_market
    from steps.train.algorithms import get_algorithm
    from steps.train.run import run_training

    log = logging.getLogger("bench")
    universe = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM", "XOM"], "sector": ["IT", "IT", "Fin", "Energy"]})
    write_market(generate_market(universe, days=30, seed=3), root / "sample")
    universe.to_csv(root / "universe.csv", index=False)
    run_features(root / "sample" / "bars", root / "sample" / "tweets", root / "features",
                 FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30),
                 universe=root / "universe.csv", logger=log)
    algorithm = get_algorithm("xgboost")
    run_training(root / "features", root / "models" / "xgboost", root / "out", algorithm,
                 {**algorithm.defaults(), "num_round": 200, "early_stopping_rounds": 20}, log)
    run_evaluation(root / "models" / "xgboost", root / "features", root / "evaluations" / "xgboost", None, log,
                   bootstrap=5)
    run_ensemble(root / "models", root / "evaluations", root / "features", root / "ensemble", log, bootstrap=5)
    return root / "ensemble"


def percentiles(samples_ms: list[float]) -> str:
    values = np.asarray(samples_ms)
    return (f"p50 {np.percentile(values, 50):7.3f} ms  p90 {np.percentile(values, 90):7.3f} ms  "
            f"p99 {np.percentile(values, 99):7.3f} ms  mean {statistics.fmean(values):7.3f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rows-per-request", type=int, default=1)
    parser.add_argument("--load", action="store_true", help="concurrent clients and idle connections instead")
    parser.add_argument("--clients", default="20,50,200")
    parser.add_argument("--per-client", type=int, default=20, help="requests each client sends per run")
    parser.add_argument("--idle", type=int, default=800, help="idle connections held open")
    parser.add_argument("--before-rev", default="bb4ba32", help="a commit whose steps/serve/server.py is BEFORE")
    parser.add_argument("--waitress-path", type=Path, default=None)
    parser.add_argument("--servers", default="BEFORE,AFTER", help="which of BEFORE,AFTER to run")
    parser.add_argument("--serve-args", default="", help="extra arguments for AFTER's python -m steps.serve")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir or build_tiny_ensemble(Path(scratch))
        if args.load:
            from serving_load import run_load

            return run_load(model_dir, [int(c) for c in args.clients.split(",")], args.per_client, args.idle,
                            args.before_rev, args.waitress_path, Path(scratch),
                            [s for s in args.servers.split(",") if s], args.serve_args.split())
        smoke = pd.read_parquet(model_dir / "smoke_rows.parquet")
        with load_artifact(model_dir) as model:
            features = model.features
            bodies = []
            for i in range(args.requests):
                rows = smoke.iloc[[(i * args.rows_per_request + k) % len(smoke) for k in range(args.rows_per_request)]]
                bodies.append((rows, rows[features].to_csv(index=False).encode()))
            for rows, _ in bodies[:20]:  # warm-up
                model.predict(rows)
            in_process = []
            for rows, _ in bodies:
                started = time.perf_counter()
                model.predict(rows)
                in_process.append((time.perf_counter() - started) * 1e3)
            describe = model.describe()

        invoker = LocalServeInvoker()
        invoker.attach("bench", model_dir)
        try:
            url = urlparse(invoker.url("bench"))
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            over_http, errors = [], 0
            for _, body in bodies[:20]:  # warm-up
                connection.request("POST", "/invocations", body, {"Content-Type": "text/csv"})
                connection.getresponse().read()
            for _, body in bodies:
                started = time.perf_counter()
                connection.request("POST", "/invocations", body, {"Content-Type": "text/csv"})
                response = connection.getresponse()
                response.read()
                over_http.append((time.perf_counter() - started) * 1e3)
                errors += response.status != 200
            connection.close()
        finally:
            invoker.close()
    print(f"model: {describe}; {args.requests} sequential requests, {args.rows_per_request} row(s) each")
    print(f"HTTP (steps.serve, keep-alive, CSV): {percentiles(over_http)}  errors {errors}")
    print(f"in-process model.predict (no HTTP):  {percentiles(in_process)}")
    overhead = np.percentile(over_http, 50) - np.percentile(in_process, 50)
    print(f"HTTP + parsing overhead at p50: {overhead:.3f} ms")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
