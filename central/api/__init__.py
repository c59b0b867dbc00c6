"""The engineer API: one router per resource, mounted under ``/api`` by :func:`central.app.create_app`."""
