"""Real-time delivery (API.md "Real time"): `GET /v1/ws`, routed by interest.

- `router`: a JetStream consumer shared by every gateway instance as one queue group, so
  each event is handled once; it turns an event into the frames of API.md and publishes
  each frame on a core-NATS subject under `rt.user.<user_id>.` of every user concerned.
- `hub`: the sockets of this instance; it subscribes to `rt.user.<id>.>` while it holds
  a socket of that user, so NATS only carries a frame to the instances that need it.
- `ordering`: each conversation's frames to a user's sockets in `seq` order, though
  the instances route their shares of the events side by side.
- `ws`: the endpoint itself (token check before the upgrade, `ready`, keep-alive, a
  bounded send queue per socket).

Durability comes from the database: a client that missed frames catches up by `seq`.
"""

from __future__ import annotations

USER_SUBJECT_PREFIX = "rt.user."
_MESSAGE = "msg"
_OTHER = "any"

Order = tuple[str, int]
"""(conversation_id, seq) of a `message.sent` frame."""


def user_subjects(user_id: str) -> str:
    """What an instance holding a socket of the user subscribes to."""
    return f"{USER_SUBJECT_PREFIX}{user_id}.>"


def frame_subject(user_id: str, order: Order | None) -> str:
    """A frame's subject carries its order, so that a receiving instance reorders it
    without decoding it (ids are hex, so they never hold a `.`)."""
    if order is None:
        return f"{USER_SUBJECT_PREFIX}{user_id}.{_OTHER}"
    return f"{USER_SUBJECT_PREFIX}{user_id}.{_MESSAGE}.{order[0]}.{order[1]}"


def order_of(subject: str) -> Order | None:
    parts = subject.split(".")
    if len(parts) == 6 and parts[3] == _MESSAGE and parts[5].isdigit():
        return parts[4], int(parts[5])
    return None
