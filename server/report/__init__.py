"""``codeward report``: aggregates of the event store and the registry, drawn as one HTML page."""
