"""The public model of a pipeline: states, transitions, policies and document types."""

from docstate.model.declarations import (
    LOCAL_TIMEOUT_LIMIT,
    FanOut,
    KeyLimits,
    PipelineSpec,
    Retry,
    SlotCount,
    State,
    Transition,
    TransitionFunction,
    TransitionSpec,
)
from docstate.model.doctype import DocumentType

__all__ = [
    "LOCAL_TIMEOUT_LIMIT",
    "DocumentType",
    "FanOut",
    "KeyLimits",
    "PipelineSpec",
    "Retry",
    "SlotCount",
    "State",
    "Transition",
    "TransitionFunction",
    "TransitionSpec",
]
