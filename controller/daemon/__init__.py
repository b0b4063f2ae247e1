"""The controller: a long-running reconcile loop beside the registry (Argo CD's model).

It runs the same plan, gates and apply as the CLI (`controller.api`); it only decides when.
"""
