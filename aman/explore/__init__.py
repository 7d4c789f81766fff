"""Explore: read a configured feed, let the agent's model judge and summarise it.

``feeds`` fetches and normalises RSS, Atom and JSON Feed; ``scoring`` holds the prompts and the
validation of the model's structured scores; ``pipeline`` is the ``ExploreService`` that runs it
all in the background and posts each step to a chat session. Nothing here is imported at boot:
the Runtime builds the service on first use.
"""
