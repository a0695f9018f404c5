"""`python -m steps.serve --model-dir DIR [--host 127.0.0.1] [--port 8080]`: the serving container.

SageMaker starts the image as `serve` with the model at /opt/ml/model and expects port 8080 on every
interface (`SAGEMAKER_BIND_TO_PORT` overrides the port); run by hand it listens on 127.0.0.1. `--port 0`
picks a free port. Prints `serving <url>` on stdout once it accepts requests; SIGTERM stops it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence

from steps.common.cli import StepArgumentParser, run_main
from steps.common.logging import get_logger
from steps.serve.model import load_artifact
from steps.serve.server import make_server


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    sagemaker_mode = bool(args_in) and args_in[0] == "serve"
    if sagemaker_mode:
        args_in = args_in[1:]
    parser = StepArgumentParser(prog="python -m steps.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="/opt/ml/model", help="ensemble output, model folder or model.tar.gz")
    parser.add_argument("--host", default="0.0.0.0" if sagemaker_mode else "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    parser.add_log_format()
    args = parser.parse_args(args_in)
    logger = get_logger("serve", args.log_format)
    with load_artifact(args.model_dir) as model:
        logger.info("model loaded from %s: %s", args.model_dir, model.describe())
        server = make_server(model, args.host, args.port, logger)
        stopping = threading.Event()

        def stop(_signum: int, _frame: object) -> None:
            if not stopping.is_set():
                stopping.set()
                threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info("listening on %s", server.url)
        print(f"serving {server.url}", flush=True)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
        logger.info("stopped after %d requests (%d errors)", server.state.requests, server.state.errors)
    return 0


if __name__ == "__main__":
    run_main(main)
