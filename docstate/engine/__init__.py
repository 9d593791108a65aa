"""The Temporal engine: the document workflow, its activities, and the worker that runs them.

Applications do not import workflow code to submit documents (the client addresses
workflows by name, :mod:`docstate.protocol`); a worker process runs this engine for the
pipelines its settings name: ``docstate worker``, or :func:`run_worker` from code.
"""

from docstate.engine.support import WorkflowActivities
from docstate.engine.transitions import TransitionActivities
from docstate.engine.worker import build_worker, run_worker
from docstate.engine.workflow import DocumentWorkflow

__all__ = [
    "DocumentWorkflow",
    "TransitionActivities",
    "WorkflowActivities",
    "build_worker",
    "run_worker",
]
