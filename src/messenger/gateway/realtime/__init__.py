"""Real-time delivery (API.md "Real time"): `GET /v1/ws`, routed by interest.

- `router`: a JetStream consumer shared by every gateway instance as one queue group, so
  each event is handled once; it turns an event into the frames of API.md and publishes
  each frame on the core-NATS subject `rt.user.<user_id>` of every user concerned.
- `hub`: the sockets of this instance; it subscribes to `rt.user.<id>` while it holds a
  socket of that user, so NATS only carries a frame to the instances that need it.
- `ws`: the endpoint itself (token check before the upgrade, `ready`, keep-alive, a
  bounded send queue per socket).

Durability comes from the database: a client that missed frames catches up by `seq`.
"""

from __future__ import annotations

USER_SUBJECT_PREFIX = "rt.user."


def user_subject(user_id: str) -> str:
    return USER_SUBJECT_PREFIX + user_id
