"""Configuration of how the agent reaches out: IM channels, idle runs and explore.

Kept apart from ``aman.config.settings`` (which composes these sections) so each file stays
about one concept. ``ChannelSettings`` is also importable from ``aman.config.settings``.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

#: Where each platform's own API lives unless ``api_base`` says otherwise (tests point it at a
#: local fake server).
DEFAULT_API_BASE = {"telegram": "https://api.telegram.org", "slack": "https://slack.com/api"}

#: How each platform's messages can reach the daemon: pushed to its webhook, pulled by long
#: polling (Telegram ``getUpdates``) or over a socket the daemon opens (Slack Socket Mode).
INTAKE_MODES = {"telegram": ("webhook", "poll"), "slack": ("webhook", "socket"),
                "generic": ("webhook",)}

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_NAME = r"^[a-z0-9][a-z0-9_.-]*$"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelChatSettings(_Section):
    """Turns a channel's inbound messages into chat sessions answered on the platform."""

    agent_id: str | None = Field(
        None, description="Agent that answers; null = the channel's agent_id, then the default.")
    session_per: Literal["chat", "thread", "user"] = Field(
        "chat", description="One session per chat, per thread in a chat, or per user.")
    owner_chats: list[str] = Field(
        default_factory=list, description="Chat ids of the agent's owner: their sessions load "
                                          "the agent's memory; other chats get none of it.")


class ChannelSettings(_Section):
    """One IM channel instance, under channels.<platform>.<instance>."""

    enabled: bool = True
    secret: SecretStr = Field(
        SecretStr(""),
        description=("Telegram secret_token, Slack signing secret or generic HMAC key; "
                     "empty refuses all."),
    )
    allowed_chats: list[str] = Field(default_factory=list, description="Empty = everyone.")
    agent_id: str | None = Field(None, description="Agent that receives this channel's messages.")
    chat: ChannelChatSettings | None = Field(
        None, description="Hold conversations here: replies go back through the platform.")
    bot_token: SecretStr = Field(
        SecretStr(""), description="Telegram bot token or Slack bot token (xoxb-) for replies.")
    api_base: str | None = Field(
        None, pattern=r"^https?://", description="Platform API base; null = the public one.")
    reply_url: str | None = Field(
        None, pattern=r"^https?://", description="generic: where replies are POSTed (signed).")
    send_timeout_sec: float = Field(10.0, gt=0, le=300, description="Per outbound request.")
    mode: Literal["webhook", "poll", "socket"] | None = Field(
        None, description=("How messages arrive: telegram webhook|poll, slack webhook|socket; "
                           "null = poll/socket when a token is set and no secret, else webhook."))
    app_token: SecretStr = Field(
        SecretStr(""), description="Slack app-level token (xapp-…) for Socket Mode.")
    poll_timeout_sec: int = Field(
        30, ge=1, le=50, description="Telegram getUpdates long-poll timeout in poll mode.")


def intake_mode(platform: str, config: ChannelSettings) -> str:
    """The mode in force: the configured one, else pulling when the instance can pull and has no
    webhook secret (the way that works behind NAT), else the webhook."""
    if config.mode is not None:
        return config.mode
    if config.secret.get_secret_value():
        return "webhook"
    if platform == "telegram" and config.bot_token.get_secret_value():
        return "poll"
    if platform == "slack" and config.app_token.get_secret_value():
        return "socket"
    return "webhook"


def channel_problem(platform: str, instance: str, config: ChannelSettings) -> str | None:
    """Why a channel could not work as configured (a mode its platform lacks, a mode without its
    token, conversations that could not answer), or None when it can."""
    where = f"channels.{platform}.{instance}"
    modes = INTAKE_MODES.get(platform, ("webhook",))
    if config.mode is not None and config.mode not in modes:
        return f"{where}.mode is {config.mode!r}; {platform} supports {' or '.join(modes)}"
    if not config.enabled:
        return None
    mode = intake_mode(platform, config)
    if mode == "poll" and not config.bot_token.get_secret_value():
        return (f"{where}.mode is poll but {where}.bot_token is empty: getUpdates needs it "
                f"(write bot_token: ${{TELEGRAM_BOT_TOKEN}} and export it)")
    if mode == "socket":
        app_token = config.app_token.get_secret_value()
        if not app_token.startswith("xapp-"):
            return (f"{where}.mode is socket but {where}.app_token is "
                    f"{'empty' if not app_token else 'not an app-level token (xapp-…)'}: "
                    "create one under Basic Information → App-Level Tokens with "
                    "connections:write, and enable Socket Mode")
    if config.chat is None:
        return None
    if platform in ("telegram", "slack") and not config.bot_token.get_secret_value():
        return (f"{where}.chat is set but {where}.bot_token is empty: replies could not be sent "
                f"(write bot_token: ${{{platform.upper()}_BOT_TOKEN}} and export it)")
    if platform == "generic" and not config.reply_url:
        return f"{where}.chat is set but {where}.reply_url is empty: replies have nowhere to go"
    return None


class WorkItem(_Section):
    """One entry of the work queue an idle ``work`` run picks from."""

    id: str = Field(min_length=1, pattern=_NAME, description="Stable id (the work_id).")
    project: str = Field(min_length=1, pattern=_NAME, description="Project key.")
    title: str = Field(min_length=1, description="What to work on, given to the agent.")
    agent_id: str | None = Field(None, description="Only this agent; null = any agent.")
    done: bool = Field(False, description="Done items stay listed but are not picked.")


class IdleSettings(_Section):
    """The idle scheduler: what the agent does when its person is away."""

    enabled: bool = Field(False, description="Run idle skills on their own after after_sec.")
    after_sec: float = Field(900.0, gt=0, le=86_400, description="Quiet time before a run.")
    quiet_hours: list[str] = Field(
        default_factory=list, description='Local "HH:MM-HH:MM" spans with no idle runs.')
    weights: dict[str, float] = Field(
        default_factory=lambda: {"study": 0.4, "fun": 0.4, "work": 0.2},
        description="Tag → relative chance of being picked.")
    max_runs_per_hour: int = Field(2, ge=0, le=60, description="At most this many runs an hour.")
    agent_id: str | None = Field(None, description="Agent that runs idle; null = the default.")
    work_queue: list[WorkItem] = Field(
        default_factory=list, description="Work items for idle work runs (see README).")

    @field_validator("quiet_hours")
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        bad = [span for span in value if not _HOURS.match(span)]
        if bad:
            raise ValueError(f'quiet_hours entries must read "HH:MM-HH:MM"; got {bad}')
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        negative = sorted(tag for tag, weight in value.items() if weight < 0)
        if negative:
            raise ValueError(f"weights must not be negative: {', '.join(negative)}")
        return {tag.lower(): weight for tag, weight in value.items()}


class InfoSource(_Section):
    """One feed explore can read (RSS, Atom or JSON Feed)."""

    name: str = Field(min_length=1, pattern=_NAME, description="Name used in /explore/start.")
    url: str = Field(pattern=r"^https?://", description="Feed URL.")


class InfoHubSettings(_Section):
    """Feeds for explore and how items are judged."""

    sources: list[InfoSource] = Field(default_factory=list, description="Feeds to explore.")
    min_score: int = Field(20, ge=0, le=30, description="Items scoring above this are summarised.")
    max_items: int = Field(20, ge=1, le=200, description="Items read from a feed per run.")
    fetch_timeout_sec: float = Field(15.0, gt=0, le=300, description="Feed download timeout.")

    @field_validator("sources", mode="before")
    @classmethod
    def _plain_urls(cls, value: object) -> object:
        # A bare URL (or an entry without a name) is named after its host, so the short form
        # users write works; feeds sharing a host are named by host and path instead.
        if not isinstance(value, list):
            return value
        return name_sources(value)

    @model_validator(mode="after")
    def _unique_names(self) -> InfoHubSettings:
        names = [source.name for source in self.sources]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"info_hub source names must be unique; repeated: {repeated} "
                             "(give each feed its own name: {name, url})")
        return self

    def find(self, key: str) -> InfoSource | None:
        """The source named ``key``, or else the one whose URL is ``key``."""
        return (next((s for s in self.sources if s.name == key), None)
                or next((s for s in self.sources if s.url == key), None))


def name_sources(items: list[Any]) -> list[Any]:
    """Give every unnamed source (a bare URL, or a mapping without ``name``) a name: its host
    when no other source uses that name, else its host and path, so distinct URLs never clash."""
    def url_of(item: Any) -> str | None:
        if isinstance(item, str):
            return item
        if isinstance(item, dict) and not item.get("name") and isinstance(item.get("url"), str):
            return str(item["url"])
        return None

    given = {str(item["name"]) for item in items if isinstance(item, dict) and item.get("name")}
    hosts = [_host_name(url) for item in items if (url := url_of(item)) is not None]
    named: list[Any] = []
    for item in items:
        url = url_of(item)
        if url is None:
            named.append(item)
            continue
        host = _host_name(url)
        name = host if hosts.count(host) == 1 and host not in given else _host_path_name(url)
        named.append({**item, "name": name} if isinstance(item, dict)
                     else {"name": name, "url": url})
    return named


def _host_name(url: str) -> str:
    host = (urlsplit(url).hostname or "feed").lower()
    return re.sub(r"[^a-z0-9_.-]", "-", host)


def _host_path_name(url: str) -> str:
    parts = urlsplit(url)
    rest = f"{parts.path}?{parts.query}" if parts.query else parts.path
    slug = re.sub(r"[^a-z0-9_.]+", "-", rest.lower()).strip("-.")
    return f"{_host_name(url)}-{slug}" if slug else _host_name(url)
