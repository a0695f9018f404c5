"""The CloudWatch namespace of the live metrics, in a module of its own: the monitor's command line
(steps/live/monitor.py) prints it in `--help` without loading the monitor's code (steps/live/monitoring.py),
which publishes under it; pipelines/deployment/live_alarms.py sets its alarms on it."""

from __future__ import annotations

NAMESPACE = "Conviction/Live"
