"""Several daemons on one store: who is alive, who leads what, and the events a dead one left."""
