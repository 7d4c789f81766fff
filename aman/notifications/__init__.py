"""Notifications: what an operator should look at, stored and fed by the bus."""
