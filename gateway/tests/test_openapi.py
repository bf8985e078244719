"""The OpenAPI document describes every endpoint and the error body."""

import json

import pytest

ERROR_REF = "#/components/schemas/ErrorResponse"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def test_document_names_torget_and_servers(document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Torget"
    assert document["info"]["version"] == "0.1.0"
    assert document["servers"] == [{"url": "/", "description": "Torget gateway"}]


def test_document_lists_probe_paths(document):
    assert "/healthz" in document["paths"]
    assert "/readyz" in document["paths"]
    assert "get" in document["paths"]["/readyz"]


def test_error_schema_has_every_field(document):
    schemas = document["components"]["schemas"]
    error = schemas["Error"]

    assert schemas["ErrorResponse"]["properties"]["error"]["$ref"] == "#/components/schemas/Error"
    assert set(error["properties"]) == {"status", "code", "message", "fields", "request_id"}
    assert set(error["required"]) == {"status", "code", "message", "request_id"}
    assert error["properties"]["fields"]["additionalProperties"]["type"] == "array"


def test_every_operation_documents_errors(document):
    responses = document["components"]["responses"]

    assert responses["DEFAULT_ERROR"]["content"]["application/json"]["schema"]["$ref"] == ERROR_REF
    for path, path_item in document["paths"].items():
        # A path item also holds keys that are not operations, such as its parameters.
        operations = {method: path_item[method] for method in HTTP_METHODS if method in path_item}
        for method, operation in operations.items():
            assert operation["responses"]["default"]["$ref"] == "#/components/responses/DEFAULT_ERROR", (
                f"{method.upper()} {path} lacks the default error response"
            )


def test_readiness_documents_503(document):
    readyz = document["paths"]["/readyz"]["get"]["responses"]

    assert "200" in readyz
    assert readyz["503"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Readiness"


def test_document_served_under_public_url(make_app, monkeypatch):
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://torget.example.se/")

    document = make_app().test_client().get("/api/openapi.json").get_json()

    assert document["servers"][0]["url"] == "https://torget.example.se/"


def test_document_declares_the_bearer_token(client):
    document = client.get("/api/openapi.json").get_json()

    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    # Optional at the gateway: the empty requirement lets a request without a token reach operations that need none.
    assert document["security"] == [{"bearerAuth": []}, {}]
