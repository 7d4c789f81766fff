"""IM channel webhooks and the per-instance reload.

The webhook routes are public: Telegram, Slack and bridges cannot send the daemon's token, so each
request is authenticated by its platform's signature alone (see ``aman.channels``). Accepted
messages are not audited per request (each is already an event with its trace); refusals are,
by the guard, and dropped strangers by the inbox.
"""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, g, jsonify, request

from aman.channels.registry import reread_channel
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import ErrorBody
from aman.http.validation import responds

bp = Blueprint("channels", __name__)


@bp.post("/im/<platform>/<instance>/webhook")
@policy(public=True, action="im.webhook", target="im:{platform}/{instance}", audit=False)
@responds(ErrorBody, 401)
async def webhook(platform: str, instance: str) -> Response:
    """Receive one platform request: 200 once verified (message, duplicate, ignored or dropped).

    401 when the signature does not hold or the channel has no secret (nothing is enqueued),
    403 when the channel is disabled, 404 when it is not configured.
    """
    raw_body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    headers = {name: value for name, value in request.headers.items()}
    received = await runtime().channel_inbox.receive(
        platform, instance, headers, raw_body, request_id=getattr(g, "request_id", None)
    )
    return jsonify(received.to_json())


@bp.post("/im-channel/<platform>/<instance>/reload")
@policy(action="im_channel.reload", target="{platform}/{instance}")
async def reload(platform: str, instance: str) -> Response:
    """Re-read the config file and serve this one channel with what it says now; no restart.

    400 ``invalid_config`` naming the key when the file no longer validates, 404 when the
    instance is not in it; in both cases nothing changes.
    """
    rt = runtime()
    config = await asyncio.to_thread(
        reread_channel, rt.config_path, rt.settings, platform, instance
    )
    change = rt.channels.reload(platform, instance, config)
    g.audit_detail = {"added": change.added, "changed": list(change.changed)}
    return jsonify(
        {"ok": True, **change.to_json(), "channel": rt.channels.describe(platform, instance)}
    )
