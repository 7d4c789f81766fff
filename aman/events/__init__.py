"""Events: the model, the durable priority bus, the DLQ, the live stream and event sources.

Nothing here imports HTTP, plugins or services: everything else depends on this package.
"""
