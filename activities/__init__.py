"""Activities of the DocState worker."""

from activities.transitions import TransitionActivities
from activities.workflow_support import WorkflowActivities

__all__ = ["TransitionActivities", "WorkflowActivities"]
