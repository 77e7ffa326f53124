"""The dockyard benchmark harness: dockyard against CNCF Distribution (``registry:2``).

``scripts/bench`` installs the tools and runs ``python -m bench.run``. Both registries are
started fresh on loopback with the same settings, every workload runs against both in the same
run (alternating which goes first), every figure is repeated, and the results land in
``bench/results/`` as Markdown and JSON. See ``docs/benchmarks.md``.

Modules: ``profiles`` (sizes and counts for quick and full runs), ``servers`` (start, stop,
memory of a server's process tree), ``http`` (small HTTP/1.1 clients), ``content`` (random
blob files, OCI images), ``loadgen`` (wrk and ab), ``workloads`` (one module per family),
``results`` (figures, medians, targets) and ``report`` (Markdown), ``run`` (the command),
``stack`` (PostgreSQL, SeaweedFS, dockyard nodes and nginx for the scale-out workloads) and
``s3_raw`` (raw S3 transfers with obstore, run as a separate process, never imported).
This package imports nothing from dockyard: it talks to both registries over HTTP only.
"""
