"""Fixtures shared by integration tests: the scaled-out stack of examples/cluster/."""

from support.cluster import cluster, cluster_stack  # noqa: F401 - fixtures
