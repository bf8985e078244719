"""flask-smorest's Api and Blueprint, set up for the gateway's error format.

Every blueprint of the gateway uses this Blueprint: its argument parser
rejects a JSON-body request that is not sent as JSON with 415, where webargs
alone would treat the body as absent and report missing fields, and a body
with half of a UTF-16 surrogate pair in a string with 400.
"""

import flask_smorest
from flask import Request
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import UnsupportedMediaType

from torget_gateway.config import BEARER_SCHEME
from torget_gateway.errors import ErrorResponseSchema, check_no_lone_surrogate


class JsonBodyParser(FlaskParser):
    def load_json(self, req: Request, schema):
        if not is_json_request(req):
            raise UnsupportedMediaType()
        return super().load_json(req, schema)

    def _raw_load_json(self, req: Request):
        # webargs turns a JSONDecodeError raised here into a 400 that names its cause.
        body = super()._raw_load_json(req)
        check_no_lone_surrogate(req.get_data(as_text=True), body)
        return body


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JsonBodyParser()


class Api(flask_smorest.Api):
    # Documents every error response with the gateway's error body.
    ERROR_SCHEMA = ErrorResponseSchema

    def __init__(self, app=None, **kwargs):
        super().__init__(app, **kwargs)
        self.spec.components.security_scheme(
            BEARER_SCHEME,
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An ES256 access token from the identity service, verified against /identity/jwks.json",
            },
        )

    def _register_error_handlers(self):
        # torget_gateway.errors registers the handlers, because flask-smorest's
        # own would respond in another format.
        pass
