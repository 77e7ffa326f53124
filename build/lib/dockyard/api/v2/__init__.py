"""The Distribution API under ``/v2``: routes and one handler module per resource."""
