"""The transition functions of this application's pipelines (``workflows/``).

Plain Python: each takes a ``docstate.Document`` and returns the updated document (or
derived documents). DocState runs each as a Temporal activity.
"""
