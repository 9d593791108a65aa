"""Whether any worker polls a task queue: what an action that needs one asks first."""

from __future__ import annotations

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client as TemporalClient
from temporalio.service import RPCError


async def workflow_pollers(temporal: TemporalClient, namespace: str, task_queue: str) -> int | None:
    """Workers that polled ``task_queue`` for workflow tasks lately, or None when Temporal
    does not say.

    The server remembers a poller for a few minutes after its last poll, so a count above
    zero may include a worker that has just stopped; zero means no worker at all.
    """
    request = DescribeTaskQueueRequest(
        namespace=namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    try:
        response = await temporal.workflow_service.describe_task_queue(request)
    except RPCError:
        return None
    return len(response.pollers)
