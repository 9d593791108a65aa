"""This application's pipelines: the ``DocumentType`` declarations DocState runs.

A DocState process finds its pipelines in the modules named by ``DOCSTATE_PIPELINES``;
by default, this package of the working directory (every ``DocumentType`` at the top
level of its modules). The functions the transitions call live in ``activities/``.
"""
