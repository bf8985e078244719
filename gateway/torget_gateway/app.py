"""The gateway's Flask application factory, run by gunicorn with gthread workers."""

from collections.abc import Mapping

from flask import Flask, request
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from torget_gateway import attendance, auth, correlation, directory, documents, errors, health, i18n, identity, messaging
from torget_gateway.api import Api
from torget_gateway.config import config_from_env
from torget_gateway.rpc import RpcClientPool
from torget_gateway.services import POOL_EXTENSION


def reject_oversized_body() -> None:
    # werkzeug checks the limit only when the body is read; this rejects a
    # declared oversized body on every route, before any other work.
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()


def reject_nul_in_path() -> None:
    # No id contains U+0000, and PostgreSQL rejects it in a query, so a path
    # with one names nothing. The gateway returns 404 without calling a service.
    if "\x00" in request.path:
        raise NotFound()


def create_app(config: Mapping | None = None) -> Flask:
    """Create the gateway app from the environment, with ``config`` overriding it."""
    app = Flask(__name__)
    app.config.update(config_from_env())
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    # The correlation id is set first, so every later hook and handler logs it.
    correlation.init_app(app)
    app.before_request(reject_oversized_body)
    app.before_request(reject_nul_in_path)
    auth.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)

    api = Api(app)
    api.register_blueprint(health.blueprint)
    api.register_blueprint(attendance.blueprint)
    api.register_blueprint(documents.blueprint)
    api.register_blueprint(identity.blueprint)
    api.register_blueprint(messaging.blueprint)
    api.register_blueprint(directory.blueprint)

    app.extensions[POOL_EXTENSION] = RpcClientPool(
        app.config["AMQP_URI"],
        size=app.config["RPC_POOL_SIZE"],
        timeout=app.config["RPC_TIMEOUT"],
    )
    return app
