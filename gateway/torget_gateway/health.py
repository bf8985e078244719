"""Liveness and readiness probes.

/healthz only reports that the process responds. /readyz checks that the broker
is reachable and calls the health RPC of every service, all in parallel,
each with the readiness timeout.
"""

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor

import marshmallow as ma
from flask import current_app, jsonify
from flask_babel import gettext
from nameko.exceptions import RemoteError

from torget_gateway.api import Blueprint
from torget_gateway.errors import ApiError, ErrorSchema, error_body, rpc_error
from torget_gateway.rpc import BrokerUnavailable, PoolExhausted, RpcClientPool, RpcError, ServiceTimeout, ServiceUnavailable
from torget_gateway.services import rpc_context_data, rpc_pool
from torget_shared.config import SERVICE_NAMES

log = logging.getLogger(__name__)

blueprint = Blueprint("health", __name__, description="Liveness and readiness probes")


class LivenessSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})


class ServiceHealthSchema(ma.Schema):
    service = ma.fields.String(required=True)
    status = ma.fields.String(
        required=True,
        metadata={"description": "ok when the service answered, else timeout, unavailable, unreachable, busy or error"},
    )
    database = ma.fields.String(metadata={"description": "The service's database check, when it answered"})
    outbox = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "Outbox events per state, when the service answered"},
    )
    message = ma.fields.String(metadata={"description": "Why the service is not ready"})


class ReadinessSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"description": "ready or not_ready"})
    broker = ma.fields.String(required=True, metadata={"description": "ok or unreachable"})
    services = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(ServiceHealthSchema), required=True)
    unavailable = ma.fields.List(
        ma.fields.String(), required=True, metadata={"description": "Services that are down or timed out"}
    )
    error = ma.fields.Nested(ErrorSchema, metadata={"description": "Present when the gateway is not ready"})


@blueprint.route("/healthz")
@blueprint.response(200, LivenessSchema)
def healthz():
    """Report that the gateway process responds, without calling the broker."""
    return {"status": "ok"}


@blueprint.route("/readyz")
@blueprint.response(200, ReadinessSchema)
@blueprint.alt_response(503, schema=ReadinessSchema, description="The broker or a service is not available")
def readyz():
    """Report whether the broker and all five services respond."""
    pool = rpc_pool()
    timeout = current_app.config["READINESS_TIMEOUT"]

    if not pool.check_broker(timeout):
        reports = {
            name: _failed_report(name, "unreachable", rpc_error(BrokerUnavailable(name)).message)
            for name in SERVICE_NAMES
        }
        error = ApiError(503, "broker_unavailable", gettext("The message broker cannot be reached. Try again later."))
        return _not_ready(reports, error, broker="unreachable")

    reports = _service_reports(pool, timeout)
    unavailable = [name for name, report in reports.items() if report.get("status") != "ok"]
    if unavailable:
        error = ApiError(
            503,
            "not_ready",
            gettext("These services are not ready: %(services)s.", services=", ".join(unavailable)),
        )
        return _not_ready(reports, error, broker="ok")

    return {"status": "ready", "broker": "ok", "services": reports, "unavailable": []}


def _service_reports(pool: RpcClientPool, timeout: float) -> dict:
    context_data = rpc_context_data()
    with ThreadPoolExecutor(max_workers=len(SERVICE_NAMES), thread_name_prefix="readyz") as executor:
        # Each task runs in a copy of this context, so its log lines carry the request's correlation id.
        futures = {
            name: executor.submit(contextvars.copy_context().run, _call_health, pool, name, timeout, context_data)
            for name in SERVICE_NAMES
        }
        outcomes = {name: future.result() for name, future in futures.items()}

    # Messages are translated here, in the request's thread, where the locale is known.
    return {name: _service_report(name, outcome) for name, outcome in outcomes.items()}


def _call_health(pool: RpcClientPool, service: str, timeout: float, context_data: dict) -> dict | Exception:
    """Return the service's health report, or the exception that the call raised."""
    try:
        return pool.call(service, "health", context_data=context_data, timeout=timeout)
    except (RpcError, RemoteError) as exc:
        return exc
    except Exception as exc:
        # One broken check must not turn the whole readiness report into a 500.
        log.exception("The health check of %s failed", service)
        return exc


def _service_report(service: str, outcome: dict | Exception) -> dict:
    if isinstance(outcome, ServiceTimeout):
        return _failed_report(service, "timeout", rpc_error(outcome).message)
    if isinstance(outcome, ServiceUnavailable):
        return _failed_report(service, "unavailable", rpc_error(outcome).message)
    if isinstance(outcome, PoolExhausted):
        return _failed_report(service, "busy", rpc_error(outcome).message)
    if isinstance(outcome, RpcError):
        return _failed_report(service, "unreachable", rpc_error(outcome).message)
    if isinstance(outcome, RemoteError):
        log.warning("The health check of %s raised %s: %s", service, outcome.exc_type, outcome.value)
    if isinstance(outcome, Exception):
        return _failed_report(service, "error", gettext("The service %(service)s reported an error.", service=service))
    return outcome


def _failed_report(service: str, status: str, message: str) -> dict:
    return {"service": service, "status": status, "message": message}


def _not_ready(reports: dict, error: ApiError, *, broker: str):
    unavailable = [name for name, report in reports.items() if report.get("status") != "ok"]
    body = ReadinessSchema().dump(
        {
            "status": "not_ready",
            "broker": broker,
            "services": reports,
            "unavailable": unavailable,
            "error": error_body(error)["error"],
        }
    )
    response = jsonify(body)
    response.status_code = 503
    return response
