"""gRPC servicer of `messenger.contact.v1.ContactService`: protobuf <-> use-cases only."""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from messenger.contact import service
from messenger.pb.contact.v1 import contact_pb2 as pb
from messenger.pb.contact.v1.contact_pb2_grpc import ContactServiceServicer
from messenger.platform.uow import UnitOfWorkFactory

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ContactService"].full_name


class ContactApi(ContactServiceServicer):
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow = uow_factory

    @override
    async def AddFriend(self, request: pb.AddFriendRequest, context: Any) -> pb.AddFriendResponse:
        result = await service.add_friend(self._uow, request.user_id, request.other_user_id)
        return pb.AddFriendResponse(
            user_id=request.other_user_id, status=result.status, created=result.created
        )

    @override
    async def AcceptFriend(self, request: pb.FriendPair, context: Any) -> pb.FriendStatus:
        status = await service.accept_friend(self._uow, request.user_id, request.other_user_id)
        return pb.FriendStatus(user_id=request.other_user_id, status=status)

    @override
    async def DeclineFriend(self, request: pb.FriendPair, context: Any) -> pb.Empty:
        await service.decline_friend(self._uow, request.user_id, request.other_user_id)
        return pb.Empty()

    @override
    async def RemoveFriend(self, request: pb.FriendPair, context: Any) -> pb.Empty:
        await service.remove_friend(self._uow, request.user_id, request.other_user_id)
        return pb.Empty()

    @override
    async def GetFriends(
        self, request: pb.GetFriendsRequest, context: Any
    ) -> pb.GetFriendsResponse:
        found = await service.get_friends(self._uow, request.user_id)
        return pb.GetFriendsResponse(
            friends=[pb.Friend(user_id=u, since_ms=ms) for u, ms in found.friends],
            incoming=[pb.FriendRequest(user_id=u, requested_at_ms=ms) for u, ms in found.incoming],
            outgoing=[pb.FriendRequest(user_id=u, requested_at_ms=ms) for u, ms in found.outgoing],
        )

    @override
    async def IsFriend(self, request: pb.FriendPair, context: Any) -> pb.IsFriendResponse:
        friends = await service.is_friend(self._uow, request.user_id, request.other_user_id)
        return pb.IsFriendResponse(friends=friends)

    @override
    async def AreFriends(
        self, request: pb.AreFriendsRequest, context: Any
    ) -> pb.AreFriendsResponse:
        pairs = [(p.user_id, p.other_user_id) for p in request.pairs]
        return pb.AreFriendsResponse(friends=await service.friends_among(self._uow, pairs))
