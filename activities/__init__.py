"""Activities of the DocState worker."""

from activities.projection import ProjectionActivities
from activities.transitions import TransitionActivities

__all__ = ["ProjectionActivities", "TransitionActivities"]
