"""What a running deployment shows of itself: Prometheus metrics, OpenTelemetry traces,
structured logs. All off by default; each turned on by one setting."""

from docstate.observability.logs import configure_logging
from docstate.observability.metrics import (
    MeteredWriter,
    ProjectionGauges,
    TransitionMetrics,
    prometheus_config,
)
from docstate.observability.tracing import tracing_interceptors

__all__ = [
    "MeteredWriter",
    "ProjectionGauges",
    "TransitionMetrics",
    "configure_logging",
    "prometheus_config",
    "tracing_interceptors",
]
