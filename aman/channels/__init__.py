"""IM channels: inbound webhook adapters per platform, their registry and the inbox.

``base`` holds the verdicts and the checks every adapter runs; ``telegram``, ``slack`` and
``generic`` verify and normalize their platform's requests; ``registry`` holds the configured
instances and swaps one on reload; ``inbox`` publishes accepted messages on the bus. Instances
that fetch their own messages are event sources: ``pull`` is what they share, ``polling`` is
Telegram's ``getUpdates``, ``socket_mode`` is Slack's Socket Mode, and ``intake`` keeps one per
pulling instance in step with the registry.
"""
