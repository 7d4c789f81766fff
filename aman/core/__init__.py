"""The composition root: the process, the app factory, the runtime's wiring, boot and stop."""
