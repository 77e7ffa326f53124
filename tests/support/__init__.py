"""Shared test helpers: a real dockyard server in a subprocess, and OCI content builders."""
