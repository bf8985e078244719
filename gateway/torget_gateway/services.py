"""Calling the services from a request: the app's RPC pool and the request's context data."""

from flask import current_app

from torget_gateway.auth import current_caller
from torget_gateway.rpc import RpcClientPool
from torget_shared.caller import CALLER_KEY, CALLING_SERVICE_KEY
from torget_shared.context import CONTEXT_KEY, get_correlation_id

POOL_EXTENSION = "torget_rpc_pool"


def rpc_pool() -> RpcClientPool:
    return current_app.extensions[POOL_EXTENSION]


def rpc_context_data() -> dict:
    """Return the RPC context data of the current request: correlation id, caller and calling service."""
    return {
        CONTEXT_KEY: get_correlation_id(),
        CALLER_KEY: current_caller().to_context(),
        CALLING_SERVICE_KEY: "gateway",
    }


def call_service(service: str, method: str, *args, **kwargs):
    """Call ``service.method`` on behalf of the current request and return the result.

    The errors torget_gateway.rpc raises become 503 or 504 responses through
    the app's error handlers.
    """
    return rpc_pool().call(service, method, args, kwargs, context_data=rpc_context_data())
