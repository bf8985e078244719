"""Every failure gets the gateway's JSON error body, in Swedish or in English."""

import pytest

LOCALES = {"sv": {}, "en": {"Accept-Language": "en"}}


def _malformed_json(client, headers):
    return client.post("/test/echo", data='{"name": "Ada",', content_type="application/json", headers=headers)


def _wrong_content_type(client, headers):
    return client.post("/test/echo", data="name=Ada", content_type="application/x-www-form-urlencoded", headers=headers)


def _missing_content_type(client, headers):
    return client.post("/test/echo", data='{"name": "Ada"}', headers=headers)


def _oversized_body(client, headers):
    body = '{"name": "' + "x" * 2048 + '"}'
    return client.post("/test/echo", data=body, content_type="application/json", headers=headers)


def _unknown_route(client, headers):
    return client.get("/no/such/route", headers=headers)


def _wrong_method(client, headers):
    return client.delete("/healthz", headers=headers)


def _missing_field(client, headers):
    return client.post("/test/echo", json={"age": 12}, headers=headers)


def _wrong_type(client, headers):
    return client.post("/test/echo", json={"name": 42}, headers=headers)


def _unknown_field(client, headers):
    return client.post("/test/echo", json={"name": "Ada", "shoe_size": 38}, headers=headers)


def _out_of_range(client, headers):
    return client.post("/test/echo", json={"name": "Ada", "age": 200}, headers=headers)


def _malformed_authorization(client, headers):
    return client.get("/healthz", headers={**headers, "Authorization": "Basic QWRhOnNlY3JldA=="})


def _deeply_nested_json(client, headers):
    # 1,000 levels exhaust json.loads' recursion in under 2 KB.
    body = "[" * 1000 + "]" * 1000
    return client.post("/test/echo", data=body, content_type="application/json", headers=headers)


def _unexpected_exception(client, headers):
    return client.get("/test/boom", headers=headers)


# (case, request, status, code, Swedish message, English message)
CASES = [
    (
        "malformed json",
        _malformed_json,
        400,
        "invalid_json",
        "Begärans innehåll är inte giltig JSON: felet finns på rad 1, kolumn 16.",
        "The request body is not valid JSON: the error is at line 1, column 16.",
    ),
    (
        "wrong content type",
        _wrong_content_type,
        415,
        "unsupported_media_type",
        "Begärans innehåll måste ha Content-Type application/json, inte application/x-www-form-urlencoded.",
        "The request body must have Content-Type application/json, not application/x-www-form-urlencoded.",
    ),
    (
        "missing content type",
        _missing_content_type,
        415,
        "unsupported_media_type",
        "Begärans innehåll måste ha Content-Type application/json.",
        "The request body must have Content-Type application/json.",
    ),
    (
        "oversized body",
        _oversized_body,
        413,
        "payload_too_large",
        "Begärans innehåll är för stort: högst 1\u00a0024 byte tillåts.",
        "The request body is too large: at most 1,024 bytes are allowed.",
    ),
    (
        "unknown route",
        _unknown_route,
        404,
        "not_found",
        "Det finns ingen resurs på /no/such/route.",
        "No resource exists at /no/such/route.",
    ),
    (
        "wrong method",
        _wrong_method,
        405,
        "method_not_allowed",
        "Metoden DELETE är inte tillåten för /healthz. Tillåtna metoder: GET, HEAD, OPTIONS.",
        "The method DELETE is not allowed on /healthz. Allowed methods: GET, HEAD, OPTIONS.",
    ),
    (
        "missing field",
        _missing_field,
        422,
        "validation_failed",
        "Begäran har 1 ogiltigt fält. name: Fältet är obligatoriskt men saknas.",
        "The request has 1 invalid field. name: Missing data for required field.",
    ),
    (
        "wrong type",
        _wrong_type,
        422,
        "validation_failed",
        "Begäran har 1 ogiltigt fält. name: Inte en giltig textsträng.",
        "The request has 1 invalid field. name: Not a valid string.",
    ),
    (
        "unknown field",
        _unknown_field,
        422,
        "validation_failed",
        "Begäran har 1 ogiltigt fält. shoe_size: Okänt fält.",
        "The request has 1 invalid field. shoe_size: Unknown field.",
    ),
    (
        "value out of range",
        _out_of_range,
        422,
        "validation_failed",
        "Begäran har 1 ogiltigt fält. age: Måste vara större än eller lika med 0 och mindre än eller lika med 130.",
        "The request has 1 invalid field. age: Must be greater than or equal to 0 and less than or equal to 130.",
    ),
    (
        "malformed authorization",
        _malformed_authorization,
        401,
        "invalid_authorization_header",
        "Authorization-huvudet måste ha formen 'Bearer <token>'.",
        "The Authorization header must have the form 'Bearer <token>'.",
    ),
]


@pytest.fixture
def small_body_client(make_app):
    return make_app(MAX_CONTENT_LENGTH=1024).test_client()


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("send", "status", "code", "swedish", "english"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_error_case_has_own_status_and_message(small_body_client, locale, send, status, code, swedish, english):
    response = send(small_body_client, LOCALES[locale])
    body = response.get_json()

    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert body["error"]["message"] == (swedish if locale == "sv" else english)
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("locale", "message"),
    [
        ("sv", "Begärans innehåll är inte giltig JSON: det är nästlat för djupt."),
        ("en", "The request body is not valid JSON: it is nested too deeply."),
    ],
)
def test_deeply_nested_json_gives_400(client, locale, message):
    response = _deeply_nested_json(client, LOCALES[locale])
    error = response.get_json()["error"]

    assert response.status_code == 400
    assert error["code"] == "invalid_json"
    assert error["message"] == message


def test_validation_error_lists_every_field(client):
    response = client.post("/test/echo", json={"age": "old", "email": "not-an-address", "extra": True})
    error = response.get_json()["error"]

    assert response.status_code == 422
    assert error["fields"] == {
        "name": ["Fältet är obligatoriskt men saknas."],
        "age": ["Inte ett giltigt heltal."],
        "email": ["Inte en giltig e-postadress."],
        "extra": ["Okänt fält."],
    }
    assert error["message"].startswith("Begäran har 4 ogiltiga fält.")
    assert "email: Inte en giltig e-postadress." in error["message"]


def test_validation_error_on_body_type(client):
    response = client.post("/test/echo", json=["Ada"], headers={"Accept-Language": "en"})
    error = response.get_json()["error"]

    assert response.status_code == 422
    assert error["fields"] == {"_schema": ["Invalid input type."]}
    assert error["message"] == "The request has 1 invalid field. Request body: Invalid input type."


def test_unexpected_exception_hides_details(client, json_log):
    for headers, expected in [
        ({}, "Ett oväntat fel inträffade. Uppge begärans id {} om du kontaktar supporten."),
        (LOCALES["en"], "An unexpected error occurred. Quote the request id {} if you contact support."),
    ]:
        response = _unexpected_exception(client, headers)
        text = response.get_data(as_text=True)
        request_id = response.headers["X-Request-ID"]

        assert response.status_code == 500
        assert response.mimetype == "application/json"
        assert response.get_json()["error"]["code"] == "internal_error"
        assert response.get_json()["error"]["message"] == expected.format(request_id)
        assert "secret detail" not in text
        assert "Traceback" not in text

    logged = [line for line in json_log() if line.get("exc_info")]
    assert len(logged) == 2
    assert "RuntimeError: an unexpected failure with a secret detail" in logged[0]["exc_info"]
    assert logged[0]["correlation_id"]


def test_malformed_authorization_asks_for_bearer(client):
    response = client.get("/healthz", headers={"Authorization": "Bearer"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_request"'


def test_wellformed_bearer_token_passes(client):
    response = client.get("/healthz", headers={"Authorization": "Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"})

    assert response.status_code == 200


def test_english_variant_and_unknown_language(client):
    british = client.get("/nowhere", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_json()
    german = client.get("/nowhere", headers={"Accept-Language": "de-DE"}).get_json()
    preferred = client.get("/nowhere", headers={"Accept-Language": "en;q=0.5, sv;q=0.9"}).get_json()
    regional_first = client.get("/nowhere", headers={"Accept-Language": "en-GB,sv;q=0.1"}).get_json()
    swedish_region = client.get("/nowhere", headers={"Accept-Language": "sv-FI,en;q=0.5"}).get_json()

    assert british["error"]["message"] == "No resource exists at /nowhere."
    assert german["error"]["message"] == "Det finns ingen resurs på /nowhere."
    assert preferred["error"]["message"] == "Det finns ingen resurs på /nowhere."
    # A regional tag counts for its language, before a less preferred exact one.
    assert regional_first["error"]["message"] == "No resource exists at /nowhere."
    assert swedish_region["error"]["message"] == "Det finns ingen resurs på /nowhere."


@pytest.mark.parametrize("locale", LOCALES)
def test_service_timeout_gives_504(make_app, probe_service, locale):
    client = make_app(RPC_TIMEOUT=0.5).test_client()

    response = client.post("/test/call/probe/sleep", json={"seconds": 2}, headers=LOCALES[locale])
    error = response.get_json()["error"]

    assert response.status_code == 504
    assert error["code"] == "service_timeout"
    if locale == "sv":
        assert error["message"] == "Tjänsten probe svarade inte inom 0,5 sekunder. Försök igen senare."
    else:
        assert error["message"] == "The service probe did not respond within 0.5 seconds. Try again later."


@pytest.mark.parametrize("locale", LOCALES)
def test_service_not_running_gives_503(client, locale):
    response = client.post("/test/call/identity/health", headers=LOCALES[locale])
    error = response.get_json()["error"]

    assert response.status_code == 503
    assert error["code"] == "service_unavailable"
    if locale == "sv":
        assert error["message"] == "Tjänsten identity är inte tillgänglig. Försök igen senare."
    else:
        assert error["message"] == "The service identity is not available. Try again later."


@pytest.mark.parametrize("locale", LOCALES)
def test_unreachable_broker_gives_503(make_app, locale):
    # Nothing listens on port 1 of the loopback address.
    client = make_app(AMQP_URI="amqp://guest:guest@127.0.0.1:1/").test_client()

    response = client.post("/test/call/identity/health", headers=LOCALES[locale])
    error = response.get_json()["error"]

    assert response.status_code == 503
    assert error["code"] == "broker_unavailable"
    if locale == "sv":
        assert error["message"] == (
            "Meddelandeservern går inte att nå, så tjänsten identity kan inte anropas. Försök igen senare."
        )
    else:
        assert error["message"] == (
            "The message broker cannot be reached, so the service identity cannot be called. Try again later."
        )


def test_service_exception_gives_500(client, probe_service):
    response = client.post("/test/call/probe/fail")
    error = response.get_json()["error"]

    assert response.status_code == 500
    assert error["code"] == "internal_error"
    assert "the probe failed on purpose" not in response.get_data(as_text=True)


def test_nul_in_path_is_404_before_any_service(client):
    # The messaging service is not running here, so a 404 shows that the gateway replied by itself.
    response = client.get("/messaging/units/%00/feedback", headers={"Accept-Language": "en"})

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"name": "Ada\\ud800"}', "name"),
        ('{"name": "\\udc00"}', "name"),
        ('{"tags": ["ok", "\\ud83d"]}', "tags.1"),
    ],
)
def test_lone_surrogate_rejected_naming_field(client, body, field):
    response = client.post("/test/echo", data=body, content_type="application/json", headers={"Accept-Language": "en"})

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"
    assert list(response.json["error"]["fields"]) == [field]
    assert field in response.json["error"]["message"]


def test_surrogate_pair_accepted(client):
    response = client.post("/test/echo", data='{"name": "Ada \\ud83d\\ude00"}', content_type="application/json")

    assert response.status_code == 200
    assert response.json["name"] == "Ada \U0001f600"
