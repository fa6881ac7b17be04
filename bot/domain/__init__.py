"""Typed values that services, views, deliveries and handlers share; no I/O and no behaviour that needs it.

Services build these, views render them, handlers and deliveries pass them between the two. Nothing in
this package imports services, views, `db`, integrations or Slack.
"""
