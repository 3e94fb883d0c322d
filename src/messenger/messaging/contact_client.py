"""messaging's view of contact-service: is this pair friends, right now?

Asked synchronously for every send (once per batch of sends) and every conversation
list, because API.md says friendship changes take effect at once; events would arrive a
moment later.
"""

from __future__ import annotations

import grpc

from messenger.pb.contact.v1 import contact_pb2 as pb
from messenger.pb.contact.v1.contact_pb2_grpc import ContactServiceStub
from messenger.platform.grpc import rpc


class ContactClient:
    def __init__(self, channel: grpc.aio.Channel, deadline: float) -> None:
        self._stub = ContactServiceStub(channel)
        self._deadline = deadline

    async def are_friends(self, user_id: str, other_id: str) -> bool:
        request = pb.FriendPair(user_id=user_id, other_user_id=other_id)
        response = await rpc(self._stub.IsFriend, request, deadline=self._deadline)
        return bool(response.friends)

    async def friends_among(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """One call for a whole batch of sends (contact answers at most 1000 pairs)."""
        request = pb.AreFriendsRequest(
            pairs=[pb.FriendPair(user_id=a, other_user_id=b) for a, b in pairs]
        )
        response = await rpc(self._stub.AreFriends, request, deadline=self._deadline)
        return list(response.friends)

    async def friends_of(self, user_id: str) -> set[str]:
        request = pb.GetFriendsRequest(user_id=user_id)
        response = await rpc(self._stub.GetFriends, request, deadline=self._deadline)
        return {friend.user_id for friend in response.friends}
