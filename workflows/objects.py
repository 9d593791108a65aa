"""The ``object`` pipeline: JSON objects processed on request, by operations with prerequisites.

    validate -> transform -> enrich -> analyze -> export

Submit with metadata ``operations`` (e.g. ``["analyze"]``) or ``target``; the `plan` step
adds the prerequisites (here: validate, transform, enrich) and the others pass by.
The functions are in ``activities/objects.py``.
"""

from __future__ import annotations

from activities.objects import analyze, enrich, export, transform, validate
from docstate import Operation, OperationsPipeline

OBJECT = OperationsPipeline.build(
    "object",
    [
        Operation(name="validate", run=validate),
        Operation(name="transform", run=transform, requires=("validate",)),
        Operation(name="enrich", run=enrich, requires=("transform",)),
        Operation(name="analyze", run=analyze, requires=("enrich",)),
        Operation(name="export", run=export, requires=("transform",)),
    ],
)
