"""The HTTP edge: routes, guards, validation and the one error mapping. Only here is Quart used."""
