"""Real request shapes of each platform, and signers that follow each platform's documentation.

Telegram: ``Update`` objects as the Bot API sends them (core.telegram.org/bots/api#update), the
first one is the sample from Telegram's webhook guide. Slack: Events API bodies
(api.slack.com/apis/events-api) with their documented fields; the signer follows
api.slack.com/authentication/verifying-requests-from-slack and is checked against Slack's own
worked example. The signers are written here with ``hmac`` independently of ``aman.channels``,
so the tests check the schemes instead of echoing the code under test.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

# --- Telegram ----------------------------------------------------------------------------------

#: From Telegram's webhook guide ("Testing your bot with updates"), with is_bot as sent today.
TELEGRAM_PRIVATE_TEXT: dict[str, Any] = {
    "update_id": 10000,
    "message": {
        "date": 1441645532,
        "chat": {
            "last_name": "Test Lastname",
            "id": 1111111,
            "type": "private",
            "first_name": "Test Firstname",
            "username": "Testusername",
        },
        "message_id": 1365,
        "from": {
            "last_name": "Test Lastname",
            "id": 1111111,
            "is_bot": False,
            "first_name": "Test Firstname",
            "username": "Testusername",
            "language_code": "en",
        },
        "text": "/start",
        "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
    },
}

#: A message in a topic of a forum supergroup.
TELEGRAM_FORUM_TOPIC: dict[str, Any] = {
    "update_id": 846502117,
    "message": {
        "message_id": 2046,
        "from": {
            "id": 5511380001,
            "is_bot": False,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "username": "ada_l",
            "language_code": "en",
        },
        "chat": {"id": -1001987654321, "title": "aman ops", "is_forum": True, "type": "supergroup"},
        "date": 1718000000,
        "message_thread_id": 2040,
        "is_topic_message": True,
        "reply_to_message": {
            "message_id": 2040,
            "from": {"id": 5511380001, "is_bot": False, "first_name": "Ada"},
            "chat": {
                "id": -1001987654321,
                "title": "aman ops",
                "is_forum": True,
                "type": "supergroup",
            },
            "date": 1717990000,
            "message_thread_id": 2040,
            "forum_topic_created": {"name": "deploys", "icon_color": 7322096},
            "is_topic_message": True,
        },
        "text": "deploy status?",
    },
}

TELEGRAM_EDITED: dict[str, Any] = {
    "update_id": 846502119,
    "edited_message": {
        "message_id": 1366,
        "from": {"id": 1111111, "is_bot": False, "first_name": "Test Firstname"},
        "chat": {"id": 1111111, "first_name": "Test Firstname", "type": "private"},
        "date": 1441645600,
        "edit_date": 1441645660,
        "text": "hello again (edited)",
    },
}

TELEGRAM_CHANNEL_POST: dict[str, Any] = {
    "update_id": 846502120,
    "channel_post": {
        "message_id": 77,
        "sender_chat": {
            "id": -1001122334455,
            "title": "aman news",
            "username": "aman_news",
            "type": "channel",
        },
        "chat": {
            "id": -1001122334455,
            "title": "aman news",
            "username": "aman_news",
            "type": "channel",
        },
        "date": 1718000100,
        "text": "release 1.2 is out",
    },
}

TELEGRAM_PHOTO_WITH_CAPTION: dict[str, Any] = {
    "update_id": 846502121,
    "message": {
        "message_id": 1400,
        "from": {"id": 1111111, "is_bot": False, "first_name": "Test Firstname"},
        "chat": {"id": 1111111, "first_name": "Test Firstname", "type": "private"},
        "date": 1718000200,
        "photo": [
            {
                "file_id": "AgACAgQAAxkBAAIBQ2",
                "file_unique_id": "AQADc7Ex",
                "file_size": 1404,
                "width": 90,
                "height": 67,
            },
            {
                "file_id": "AgACAgQAAxkBAAIBQ3",
                "file_unique_id": "AQADc7Ey",
                "file_size": 18291,
                "width": 320,
                "height": 240,
            },
        ],
        "caption": "the whiteboard from today",
    },
}

TELEGRAM_STICKER: dict[str, Any] = {
    "update_id": 846502122,
    "message": {
        "message_id": 1401,
        "from": {"id": 1111111, "is_bot": False, "first_name": "Test Firstname"},
        "chat": {"id": 1111111, "first_name": "Test Firstname", "type": "private"},
        "date": 1718000300,
        "sticker": {
            "file_id": "CAACAgIAAxkBAAIBRG",
            "file_unique_id": "AgADbQ",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "\U0001f44d",
            "set_name": "HotCherry",
        },
    },
}

TELEGRAM_CALLBACK_QUERY: dict[str, Any] = {
    "update_id": 846502123,
    "callback_query": {
        "id": "4382bfdwdsb323b2d9",
        "from": {"id": 1111111, "is_bot": False, "first_name": "Test Firstname"},
        "message": {
            "message_id": 1365,
            "chat": {"id": 1111111, "type": "private"},
            "date": 1441645532,
            "text": "pick one",
        },
        "chat_instance": "-7563629203950937391",
        "data": "Data from button callback",
    },
}

TELEGRAM_MY_CHAT_MEMBER: dict[str, Any] = {
    "update_id": 846502124,
    "my_chat_member": {
        "chat": {"id": -1001987654321, "title": "aman ops", "type": "supergroup"},
        "from": {"id": 5511380001, "is_bot": False, "first_name": "Ada"},
        "date": 1718000400,
        "old_chat_member": {
            "user": {"id": 7000000001, "is_bot": True, "first_name": "aman"},
            "status": "left",
        },
        "new_chat_member": {
            "user": {"id": 7000000001, "is_bot": True, "first_name": "aman"},
            "status": "member",
        },
    },
}


def telegram_message(update_id: int, chat_id: int, text: str = "hello") -> dict[str, Any]:
    """A private text message update (the guide's sample, with its ids changed)."""
    update = copy.deepcopy(TELEGRAM_PRIVATE_TEXT)
    update["update_id"] = update_id
    update["message"]["chat"]["id"] = chat_id
    update["message"]["text"] = text
    update["message"].pop("entities")
    return update


def telegram_headers(secret: str) -> dict[str, str]:
    """What Telegram sends after ``setWebhook(secret_token=secret)``."""
    return {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}


# --- Slack -------------------------------------------------------------------------------------

#: Slack's worked example of request signing (a slash command body, form-encoded).
SLACK_DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_DOC_TIMESTAMP = "1531420618"
SLACK_DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmib"
    "IGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

SLACK_URL_VERIFICATION: dict[str, Any] = {
    "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
    "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    "type": "url_verification",
}

#: A ``message.channels`` event as the Events API delivers it today.
SLACK_CHANNEL_MESSAGE: dict[str, Any] = {
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "team_id": "T061EG9R6",
    "context_team_id": "T061EG9R6",
    "context_enterprise_id": None,
    "api_app_id": "A0MDYCDME",
    "event": {
        "client_msg_id": "7b9a1d2e-5d0b-4a55-9a3e-2f0b8c1e6d11",
        "type": "message",
        "text": "Live long and prospect.",
        "user": "U2147483697",
        "ts": "1355517523.000005",
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "Bx7a",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": "Live long and prospect."}],
                    }
                ],
            }
        ],
        "team": "T061EG9R6",
        "channel": "C024BE91L",
        "event_ts": "1355517523.000005",
        "channel_type": "channel",
    },
    "type": "event_callback",
    "event_id": "Ev0PV52K21",
    "event_time": 1355517523,
    "authorizations": [
        {
            "enterprise_id": None,
            "team_id": "T061EG9R6",
            "user_id": "U0LAN0Z89",
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ],
    "is_ext_shared_channel": False,
    "event_context": (
        "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMDYxRUc5UjYiLCJhaWQiOiJBME1EWUNETUUiLCJjaWQiOiJD"
        "MDI0QkU5MUwifQ"
    ),
}


def slack_event(event: dict[str, Any], event_id: str = "Ev0PV52K22") -> dict[str, Any]:
    """The channel-message envelope around another inner event."""
    body = copy.deepcopy(SLACK_CHANNEL_MESSAGE)
    body["event"] = event
    body["event_id"] = event_id
    return body


SLACK_THREAD_REPLY = slack_event(
    {
        "client_msg_id": "0c1d2e3f-aaaa-bbbb-cccc-111122223333",
        "type": "message",
        "text": "replying in the thread",
        "user": "U2147483697",
        "ts": "1355517600.000100",
        "thread_ts": "1355517523.000005",
        "parent_user_id": "U2147483697",
        "team": "T061EG9R6",
        "channel": "C024BE91L",
        "event_ts": "1355517600.000100",
        "channel_type": "channel",
    },
    event_id="Ev0PV52K30",
)

SLACK_BOT_MESSAGE = slack_event(
    {
        "type": "message",
        "subtype": "bot_message",
        "text": "Build finished",
        "ts": "1358877455.000010",
        "username": "ci",
        "bot_id": "BB12033",
        "channel": "C024BE91L",
        "event_ts": "1358877455.000010",
        "channel_type": "channel",
    },
    event_id="Ev0PV52K31",
)

SLACK_APP_MESSAGE = slack_event(
    {
        "type": "message",
        "text": "I am the app echoing itself",
        "user": "U0LAN0Z89",
        "ts": "1358877456.000011",
        "bot_id": "B0LAN0Z89",
        "app_id": "A0MDYCDME",
        "team": "T061EG9R6",
        "channel": "C024BE91L",
        "event_ts": "1358877456.000011",
        "channel_type": "channel",
    },
    event_id="Ev0PV52K32",
)

SLACK_MESSAGE_CHANGED = slack_event(
    {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": "C024BE91L",
        "ts": "1358878755.000001",
        "event_ts": "1358878755.000001",
        "channel_type": "channel",
        "message": {
            "type": "message",
            "user": "U2147483697",
            "text": "Hello, world!",
            "ts": "1355517523.000005",
            "edited": {"user": "U2147483697", "ts": "1358878755.000000"},
        },
    },
    event_id="Ev0PV52K33",
)

SLACK_APP_MENTION = slack_event(
    {
        "type": "app_mention",
        "user": "U2147483697",
        "text": "<@U0LAN0Z89> is it everything?",
        "ts": "1515449522.000016",
        "channel": "C024BE91L",
        "event_ts": "1515449522000016",
    },
    event_id="Ev0PV52K34",
)

SLACK_APP_RATE_LIMITED: dict[str, Any] = {
    "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
    "type": "app_rate_limited",
    "team_id": "T123456",
    "minute_rate_limited": 1518467820,
    "api_app_id": "A123456",
}


def slack_headers(
    secret: str, timestamp: int | str, body: bytes, retry: int | None = None
) -> dict[str, str]:
    """Headers Slack sends: v0 signature of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


# --- generic -----------------------------------------------------------------------------------

GENERIC_MESSAGE: dict[str, Any] = {
    "text": "the backup finished",
    "chat_id": "ops-room",
    "message_id": "m-1001",
    "user": {"id": "u-42", "name": "Backup Bot Owner", "username": "owner"},
    "thread_id": "t-7",
}


def generic_headers(secret: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    """``X-Aman-Signature: sha256=<HMAC-SHA256(secret, body)>``."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Aman-Signature": f"sha256={signature}"}
    if delivery is not None:
        headers["X-Aman-Delivery"] = delivery
    return headers


def encode(body: dict[str, Any]) -> bytes:
    """A body as the platforms send it: compact JSON in UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
