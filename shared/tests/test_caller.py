"""The caller and the calling service travel in the RPC context."""

from nameko.rpc import RpcProxy, rpc
from nameko.standalone.rpc import ServiceRpcProxy

from torget_shared.caller import ACCOUNT, ASSURANCE_BANKID, Caller
from torget_shared.service import ServiceBase


class Inner(ServiceBase):
    name = "caller_inner"

    @rpc
    def whoami(self) -> dict:
        return {"caller": self.caller.to_context(), "calling_service": self.calling_service}


class Outer(ServiceBase):
    name = "caller_outer"
    inner = RpcProxy("caller_inner")

    @rpc
    def relay(self) -> dict:
        return self.inner.whoami()


def test_caller_round_trip():
    caller = Caller(kind=ACCOUNT, account_id="a-1", person_id="p-1", roles=("guardian",), assurance=ASSURANCE_BANKID)

    assert Caller.from_context(caller.to_context()) == caller
    assert Caller.from_context(None).is_anonymous
    assert caller.has_bankid
    assert caller.has_role("guardian")
    assert not caller.has_role("teacher")


def test_inner_call_sees_caller_and_service(start_service, rabbit_config):
    start_service(Inner, "identity")
    start_service(Outer, "documents")
    caller = Caller(kind=ACCOUNT, account_id="a-2", roles=("teacher",), assurance=ASSURANCE_BANKID)
    context = {"caller": caller.to_context(), "calling_service": "gateway"}

    with ServiceRpcProxy("caller_inner", rabbit_config, context_data=context, timeout=10) as inner:
        direct = inner.whoami()
    with ServiceRpcProxy("caller_outer", rabbit_config, context_data=context, timeout=10) as outer:
        relayed = outer.relay()

    assert direct["calling_service"] == "gateway"
    assert relayed["calling_service"] == "caller_outer"
    assert Caller.from_context(relayed["caller"]) == caller
