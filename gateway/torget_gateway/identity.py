"""HTTP endpoints of the identity service: BankID login, applying, sessions, contact details, administration.

Identity reports a rejection as a JSON object ``{"code", "status",
"params"}`` in the value of nameko's RemoteError. The gateway responds with
that status and a message translated here. BankID's user messages arrive
already in the request's language, in ``params["message"]``.

Starting a login, a password login and activation are rate-limited per
client address (and activation per username too), with Flask-Limiter
storing its counters where ``RATE_LIMIT_STORAGE_URI`` says.
"""

import json
import logging
import os

import marshmallow as ma
from babel import Locale
from flask import current_app, request
from flask_babel import get_locale, gettext
from flask_limiter import Limiter, RateLimitExceeded
from nameko.exceptions import RemoteError

from torget_gateway.api import Blueprint
from torget_gateway.auth import access_ended_message, current_session_id
from torget_gateway.errors import ApiError, error_response
from torget_gateway.services import rpc_context_data, rpc_pool

log = logging.getLogger(__name__)

SERVICE = "identity"
LIMITER_EXTENSION = "torget_identity_limiter"
DEFAULT_LIMITS = {
    "LOGIN_RATE_LIMIT": "20 per minute",
    "PASSWORD_LOGIN_RATE_LIMIT": "10 per minute",
    "ACTIVATION_RATE_LIMIT": "10 per 15 minutes",
}

blueprint = Blueprint(
    "identity", __name__, url_prefix="/identity", description="Login, accounts, sessions and contact details"
)


# -- rate limits ---------------------------------------------------------------


def _client_address() -> str:
    # NOTE: behind a reverse proxy this is the proxy's address unless the
    # deployment wraps the app in werkzeug's ProxyFix for its trusted proxies.
    return request.remote_addr or "unknown"


@blueprint.record_once
def _init_limiter(state) -> None:
    app = state.app
    for name, default in DEFAULT_LIMITS.items():
        app.config.setdefault(name, os.environ.get(f"GATEWAY_{name}", default))
    storage_uri = app.config.get("RATE_LIMIT_STORAGE_URI") or os.environ.get("GATEWAY_RATE_LIMIT_STORAGE", "memory://")
    # NOTE: with the default memory:// each gunicorn worker counts on its own;
    # set GATEWAY_RATE_LIMIT_STORAGE=redis://... to share the counters.
    limiter = Limiter(
        key_func=_client_address,
        storage_uri=storage_uri,
        key_prefix=app.config.get("RATE_LIMIT_KEY_PREFIX", "torget"),
        headers_enabled=True,
    )
    limiter.init_app(app)
    app.extensions[LIMITER_EXTENSION] = limiter


def _limit(config_name: str, key_func=_client_address, scope: str = "address"):
    limiter = current_app.extensions[LIMITER_EXTENSION]
    return limiter.limit(current_app.config[config_name], key_func=key_func, scope=scope)


@blueprint.errorhandler(RateLimitExceeded)
def _too_many_requests(exc: RateLimitExceeded):
    log.warning("rate limit exceeded on %s", request.endpoint)
    error = ApiError(
        429,
        "too_many_requests",
        gettext("Too many attempts. Wait a while and try again."),
        headers={"Retry-After": "60"},
    )
    return error_response(error)


# -- calling identity and translating its rejections ---------------------------


def _regions(codes: str) -> str:
    territories = Locale.parse(str(get_locale())).territories
    return ", ".join(territories.get(code.strip(), code.strip()) for code in codes.split(","))


def _messages(params: dict) -> dict:
    """Return the message of each rejection code in the request's language."""
    remaining = params.get("remaining_attempts")
    return {
        "login_required": gettext("Log in to do this."),
        "end_user_ip_missing": gettext("The client's IP address is missing, so BankID cannot be started."),
        "bankid_order_not_found": gettext("The BankID login was not found. Start a new login."),
        "bankid_order_used": gettext("The BankID login has already been used. Start a new login."),
        "no_account": gettext("You have no account in Torget yet. Apply for one by logging in with BankID."),
        "not_eligible": gettext(
            "Torget found no child of yours placed in the municipality's schools and no duty of yours at a "
            "school unit, so you cannot get an account. Contact your child's school."
        ),
        "directory_unavailable": gettext("The school directory is not available. Try again later."),
        "account_disabled": gettext("Your account is disabled. Contact the school."),
        "invalid_credentials": gettext("The username or the password is wrong."),
        "password_locked": gettext("Too many wrong passwords, so the account is locked for a while. Try again later."),
        "activation_code_invalid": (
            gettext("The username or the activation code is wrong.")
            if remaining is None
            else gettext("The activation code is wrong. Attempts left: %(remaining)s.", remaining=remaining)
        ),
        "activation_locked": gettext("Too many wrong activation codes, so activation is locked. Ask the school for a new code."),
        "activation_code_expired": gettext("The activation code has expired. Ask the school for a new code."),
        "account_already_activated": gettext("The account is already activated. Log in with your password."),
        "password_too_short": gettext(
            "The password must have at least %(min_length)s characters.", min_length=params.get("min_length")
        ),
        "password_too_long": gettext(
            "The password may have at most %(max_length)s characters.", max_length=params.get("max_length")
        ),
        "refresh_token_invalid": gettext("The refresh token is not valid. Log in again."),
        "refresh_token_reused": gettext(
            "The refresh token had already been used, so the session was ended to protect the account. Log in again."
        ),
        "session_ended": gettext("The session has ended. Log in again."),
        "session_expired": gettext("The session has expired. Log in again."),
        "recent_login_required": gettext(
            "To change this you must have logged in within the last %(minutes)s minutes. Log in again and retry.",
            minutes=params.get("minutes"),
        ),
        "email_invalid": gettext("The e-mail address is not valid."),
        "verification_token_invalid": gettext("The verification link is not valid. Request a new link."),
        "verification_token_used": gettext("The verification link has already been used."),
        "verification_token_expired": gettext("The verification link has expired. Request a new link."),
        "mobile_invalid": gettext("The mobile number is not a valid phone number."),
        "mobile_not_mobile": gettext("The number is not a mobile number, so it cannot receive SMS."),
        "mobile_region_not_accepted": gettext(
            "Torget sends SMS only to mobile numbers from %(regions)s. Register an e-mail address for notices instead.",
            regions=_regions(params.get("regions", "")),
        ),
        "sms_needs_mobile": gettext("Add a mobile number before you turn on SMS notices."),
        "language_not_offered": gettext(
            "The language %(language)s is not offered. Choose one of: %(languages)s.",
            language=params.get("language"),
            languages=params.get("languages"),
        ),
        "name_invalid": gettext("Given name and family name are required, each at most 200 characters."),
        "staff_bankid_required": gettext("Only staff logged in with BankID may do this."),
        "not_staff_of_unit": gettext("You have no duty at the school unit %(unit_id)s.", unit_id=params.get("unit_id")),
        "not_guardian_of_child": gettext("The school directory does not list the person as a guardian of the child."),
        "child_not_at_unit": gettext(
            "The child has no current placement at the school unit %(unit_id)s.", unit_id=params.get("unit_id")
        ),
        "account_exists": gettext("The guardian already has an account."),
        "account_not_found": gettext("The account %(account_id)s was not found.", account_id=params.get("account_id")),
        "administrator_required": gettext("Only an administrator logged in with BankID may do this."),
        "role_unknown": gettext(
            "The role %(role)s is unknown. Choose one of: %(roles)s.", role=params.get("role"), roles=params.get("roles")
        ),
        "date_invalid": gettext("The date %(value)s is not valid. Use the form YYYY-MM-DD.", value=params.get("value")),
        "cutoff_not_found": gettext("No cut-off date is set for %(role)s.", role=params.get("role")),
    }


def rejection_error(data: dict) -> ApiError:
    """Return the ApiError for identity's rejection ``{"code", "status", "params"}``."""
    code, status, params = data["code"], int(data["status"]), data.get("params") or {}
    if code == "access_ended":
        return ApiError(status, code, access_ended_message(params["role"], params["date"]))
    if "message" in params:
        # A BankID user message, already in the request's language.
        return ApiError(status, code, params["message"])
    message = _messages(params).get(code) or gettext("The identity service rejected the request (%(code)s).", code=code)
    return ApiError(status, code, message)


def call_identity(method: str, *args, **kwargs):
    """Call identity with the request's caller and session id; turn its rejections into ApiError."""
    context = {**rpc_context_data(), "session_id": current_session_id()}
    try:
        return rpc_pool().call(SERVICE, method, args, kwargs, context_data=context)
    except RemoteError as exc:
        try:
            data = json.loads(exc.value)
        except (TypeError, ValueError):
            raise exc from None
        if not isinstance(data, dict) or "code" not in data or "status" not in data:
            raise
        raise rejection_error(data) from None


# -- schemas -------------------------------------------------------------------


class BankIdOrderSchema(ma.Schema):
    order_ref = ma.fields.String(required=True)
    auto_start_token = ma.fields.String(required=True, metadata={"description": "Starts the BankID app on this device"})
    qr_data = ma.fields.String(required=True, metadata={"description": "Content of the QR code; fetch anew every second"})
    status = ma.fields.String(required=True)


class BankIdStatusSchema(ma.Schema):
    order_ref = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"description": "pending, complete or failed"})
    hint_code = ma.fields.String(allow_none=True)
    rfa = ma.fields.String(metadata={"description": "BankID's recommended user message code"})
    message = ma.fields.String(allow_none=True, metadata={"description": "What to tell the user, in the request's language"})
    qr_data = ma.fields.String(metadata={"description": "Current QR code content while pending"})


class BankIdCancelledSchema(ma.Schema):
    order_ref = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"description": "cancelled"})


class QrArgs(ma.Schema):
    qr = ma.fields.Boolean(load_default=True, metadata={"description": "false on the same device (autostart)"})


class OrderRefSchema(ma.Schema):
    order_ref = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))


class TokensSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds the access token is valid"})
    refresh_token = ma.fields.String(required=True)
    refresh_expires_at = ma.fields.String(required=True)
    session_id = ma.fields.String(required=True)
    account_id = ma.fields.String(required=True)
    roles = ma.fields.List(ma.fields.String(), required=True)
    assurance = ma.fields.String(required=True, metadata={"description": "bankid or password"})
    account_created = ma.fields.Boolean()


class JwksSchema(ma.Schema):
    """A JSON Web Key Set (RFC 7517): the public keys that verify access tokens."""

    keys = ma.fields.List(ma.fields.Dict(), required=True)


class PasswordLoginSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256), load_only=True)


class ActivationSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40), load_only=True)
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256), load_only=True)


class ActivatedSchema(ma.Schema):
    account_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)


class RefreshSchema(ma.Schema):
    refresh_token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class LogoutSchema(ma.Schema):
    refresh_token = ma.fields.String(validate=ma.validate.Length(min=1, max=200))


class LoggedOutSchema(ma.Schema):
    session_id = ma.fields.String(required=True)
    logged_out = ma.fields.Boolean(required=True)


class PreferencesSchema(ma.Schema):
    sms = ma.fields.Boolean(required=True)
    email = ma.fields.Boolean(required=True)


class ContactDetailsSchema(ma.Schema):
    email = ma.fields.String(allow_none=True, metadata={"description": "The verified e-mail address"})
    mobile = ma.fields.String(allow_none=True, metadata={"description": "E.164, e.g. +46701234567"})
    language = ma.fields.String(required=True)
    preferences = ma.fields.Nested(PreferencesSchema, required=True)


class AccountSchema(ContactDetailsSchema):
    account_id = ma.fields.String(required=True)
    person_id = ma.fields.String(allow_none=True)
    given_name = ma.fields.String(required=True)
    family_name = ma.fields.String(required=True)
    roles = ma.fields.List(ma.fields.String(), required=True)
    login_method = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    pending_email = ma.fields.String(allow_none=True)
    assurance = ma.fields.String(allow_none=True)


class EmailSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=254))


class EmailPendingSchema(ma.Schema):
    pending_email = ma.fields.String(required=True)
    expires_at = ma.fields.String(required=True)


class VerificationSchema(ma.Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200), load_only=True)


class MobileSchema(ma.Schema):
    mobile = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))


class PreferencesArgs(ma.Schema):
    language = ma.fields.String(validate=ma.validate.Length(min=2, max=8))
    sms = ma.fields.Boolean()
    email = ma.fields.Boolean()


class GuardianAccountArgs(ma.Schema):
    guardian_person_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    child_person_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    unit_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    given_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    family_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    language = ma.fields.String(load_default="sv", validate=ma.validate.Length(min=2, max=8))


class GuardianAccountSchema(ma.Schema):
    account_id = ma.fields.String(required=True)
    username = ma.fields.String()
    activation_code = ma.fields.String(required=True, metadata={"description": "Hand it to the guardian; shown once"})
    activation_expires_at = ma.fields.String(required=True)


class CutoffArgs(ma.Schema):
    date = ma.fields.Date(required=True, metadata={"description": "First day without access (Europe/Stockholm)"})


class CutoffSchema(ma.Schema):
    role = ma.fields.String(required=True)
    date = ma.fields.String(allow_none=True)
    set_at = ma.fields.String()


class DisableArgs(ma.Schema):
    reason = ma.fields.String(validate=ma.validate.Length(max=200))


class DisabledSchema(ma.Schema):
    account_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    sessions_ended = ma.fields.Integer(required=True)


# -- BankID login and applying ---------------------------------------------------


@blueprint.route("/bankid/orders", methods=["POST"])
@blueprint.response(201, BankIdOrderSchema)
def start_bankid_login():
    """Start a BankID login; show the QR code or open the app with the autostart token."""
    with _limit("LOGIN_RATE_LIMIT"):
        return call_identity("start_bankid_login", _client_address())


@blueprint.route("/bankid/orders/<order_ref>")
@blueprint.arguments(QrArgs, location="query")
@blueprint.response(200, BankIdStatusSchema)
def poll_bankid_login(args, order_ref):
    """Return the login's status, the message for the user and, while pending, the current QR code."""
    return call_identity("poll_bankid_login", order_ref, qr=args["qr"])


@blueprint.route("/bankid/orders/<order_ref>", methods=["DELETE"])
@blueprint.response(200, BankIdCancelledSchema)
def cancel_bankid_login(order_ref):
    """Cancel a pending BankID login."""
    return call_identity("cancel_bankid_login", order_ref)


@blueprint.route("/bankid/orders/<order_ref>/session", methods=["POST"])
@blueprint.response(201, TokensSchema)
def complete_bankid_login(order_ref):
    """Log in with a completed BankID login; 404 no_account when the person has no account yet."""
    with _limit("LOGIN_RATE_LIMIT"):
        return call_identity("complete_bankid_login", order_ref)


@blueprint.route("/applications", methods=["POST"])
@blueprint.arguments(OrderRefSchema)
@blueprint.response(201, TokensSchema)
def apply_for_account(args):
    """Apply for an account with a completed BankID login; an existing account is kept and logged in."""
    with _limit("LOGIN_RATE_LIMIT"):
        return call_identity("apply_for_account", args["order_ref"])


# -- password accounts -------------------------------------------------------------


def _username() -> str:
    body = request.get_json(silent=True) or {}
    return str(body.get("username", ""))[:64].strip().lower()


@blueprint.route("/password-login", methods=["POST"])
@blueprint.arguments(PasswordLoginSchema)
@blueprint.response(201, TokensSchema)
def password_login(args):
    """Log in an account that staff created; the session has assurance "password"."""
    with _limit("PASSWORD_LOGIN_RATE_LIMIT"):
        return call_identity("password_login", args["username"], args["password"])


@blueprint.route("/activation", methods=["POST"])
@blueprint.arguments(ActivationSchema)
@blueprint.response(200, ActivatedSchema)
def activate_account(args):
    """Activate a staff-created account with its one-time code and choose a password."""
    with _limit("ACTIVATION_RATE_LIMIT"), _limit("ACTIVATION_RATE_LIMIT", key_func=_username, scope="username"):
        return call_identity("activate_account", args["username"], args["code"], args["password"])


@blueprint.route("/guardian-accounts", methods=["POST"])
@blueprint.arguments(GuardianAccountArgs)
@blueprint.response(201, GuardianAccountSchema)
def create_guardian_account(args):
    """Create a password account for a guardian without BankID (staff with a duty at the child's unit)."""
    return call_identity("create_guardian_account", **args)


@blueprint.route("/guardian-accounts/<account_id>/activation-code", methods=["POST"])
@blueprint.response(201, GuardianAccountSchema)
def reissue_activation_code(account_id):
    """Give a staff-created account a new activation code."""
    return call_identity("reissue_activation_code", account_id)


# -- sessions ------------------------------------------------------------------------


@blueprint.route("/token/refresh", methods=["POST"])
@blueprint.arguments(RefreshSchema)
@blueprint.response(200, TokensSchema)
def refresh(args):
    """Exchange a refresh token for new tokens; a reused refresh token ends the session."""
    return call_identity("refresh", args["refresh_token"])


@blueprint.route("/logout", methods=["POST"])
@blueprint.arguments(LogoutSchema)
@blueprint.response(200, LoggedOutSchema)
def logout(args):
    """End the session of the refresh token, or else of the access token."""
    return call_identity("logout", args.get("refresh_token"))


@blueprint.route("/jwks.json")
@blueprint.response(200, JwksSchema)
def jwks():
    """Return the public keys that verify access tokens."""
    keys = call_identity("jwks")
    return {"keys": keys["keys"]}


# -- the account and its contact details ---------------------------------------------


@blueprint.route("/me")
@blueprint.response(200, AccountSchema)
def me():
    """Return the caller's account, roles, assurance level and contact details."""
    return call_identity("me")


@blueprint.route("/me/email", methods=["POST"])
@blueprint.arguments(EmailSchema)
@blueprint.response(202, EmailPendingSchema)
def request_email_verification(args):
    """Register an e-mail address; it is used once the link sent to it is opened. Needs a recent login."""
    return call_identity("request_email_verification", args["email"])


@blueprint.route("/me/email", methods=["DELETE"])
@blueprint.response(200, ContactDetailsSchema)
def remove_email():
    """Remove the e-mail address. Needs a recent login."""
    return call_identity("remove_email")


@blueprint.route("/email-verification", methods=["POST"])
@blueprint.arguments(VerificationSchema)
@blueprint.response(200, ContactDetailsSchema)
def verify_email(args):
    """Verify an e-mail address with the token of its link; each link works once."""
    return call_identity("verify_email", args["token"])


@blueprint.route("/me/mobile", methods=["PUT"])
@blueprint.arguments(MobileSchema)
@blueprint.response(200, ContactDetailsSchema)
def set_mobile(args):
    """Set the mobile number for SMS notices (a Swedish mobile number). Needs a recent login."""
    return call_identity("set_mobile", args["mobile"])


@blueprint.route("/me/mobile", methods=["DELETE"])
@blueprint.response(200, ContactDetailsSchema)
def remove_mobile():
    """Remove the mobile number; SMS notices stop. Needs a recent login."""
    return call_identity("set_mobile", None)


@blueprint.route("/me/preferences", methods=["PATCH"])
@blueprint.arguments(PreferencesArgs)
@blueprint.response(200, ContactDetailsSchema)
def set_preferences(args):
    """Set the language of notices and whether they come by SMS and by e-mail."""
    return call_identity("set_notice_preferences", **args)


# -- administration ---------------------------------------------------------------------


@blueprint.route("/access-cutoffs")
@blueprint.response(200, CutoffSchema(many=True))
def access_cutoffs():
    """List the dates from which roles no longer have access."""
    return call_identity("access_cutoffs")


@blueprint.route("/access-cutoffs/<role>", methods=["PUT"])
@blueprint.arguments(CutoffArgs)
@blueprint.response(200, CutoffSchema)
def set_access_cutoff(args, role):
    """Set the date from which a role (guardian, pupil, staff) can no longer log in or refresh."""
    return call_identity("set_access_cutoff", role, args["date"].isoformat())


@blueprint.route("/access-cutoffs/<role>", methods=["DELETE"])
@blueprint.response(200, CutoffSchema)
def clear_access_cutoff(role):
    """Remove a role's cut-off date."""
    return call_identity("clear_access_cutoff", role)


@blueprint.route("/accounts/<account_id>/disable", methods=["POST"])
@blueprint.arguments(DisableArgs)
@blueprint.response(200, DisabledSchema)
def disable_account(args, account_id):
    """Disable an account and end all its sessions."""
    return call_identity("disable_account", account_id, args.get("reason"))
