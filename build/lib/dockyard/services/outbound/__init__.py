"""Requests dockyard makes to other hosts: webhooks, notifications, upstream registries.

Everything that leaves this machine on a user's say-so (a webhook URL, an upstream registry, a
token realm, a redirect) is checked here first, by the addresses its host resolves to
(:mod:`dockyard.services.outbound.guard`). May import ``core`` and the standard library only.
"""
