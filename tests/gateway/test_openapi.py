"""The served OpenAPI document stays true to the routes and their validators."""

from __future__ import annotations

import inspect
import re

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from gateway.app import create_app
from gateway.openapi import body_model, build
from gateway.settings import Settings
from tests.support.server import Server

# Routes that serve pages or files, not the API.
NOT_API = re.compile(r"^/($|chat$|static|kb(/|$)|survey/)")


def api_routes() -> list[Route]:
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    return [r for r in app.routes if isinstance(r, Route) and not NOT_API.match(r.path)]


def test_every_api_route_is_documented_with_its_responses() -> None:
    document = build(api_routes())
    for route in api_routes():
        path = re.sub(r":\w+}", "}", route.path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            operation = document["paths"].get(path, {}).get(method.lower())
            where = f"{method} {route.path} ({route.endpoint.__module__})"
            assert operation is not None, f"{where} has no `---` YAML block in its docstring"
            assert operation.get("summary"), f"{where} has no summary"
            assert operation.get("tags"), f"{where} has no tags"
            assert operation["responses"], f"{where} documents no responses"
            assert all(s.isdigit() for s in operation["responses"]), where


def test_each_endpoint_documents_the_model_it_parses() -> None:
    """The document's request body is the model the endpoint validates with."""
    document = build(api_routes())
    for route in api_routes():
        source = inspect.getsource(route.endpoint)
        parsed = set(re.findall(r"parse_body\(\s*request,\s*(\w+)", source))
        path = re.sub(r":\w+}", "}", route.path)
        methods = (route.methods or {"GET"}) - {"HEAD"}
        for method in methods:
            operation = document["paths"][path][method.lower()]
            body = operation.get("requestBody")
            documented = (
                {body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]}
                if body
                else set()
            )
            # One endpoint serving GET and POST parses a body for one of them.
            expected = documented <= parsed if len(methods) > 1 else documented == parsed
            assert expected, f"{method} {path}: parses {parsed}, documents {documented}"


def test_the_document_is_valid_openapi() -> None:
    validate(build(api_routes()))


def test_a_body_must_name_a_model() -> None:
    def endpoint() -> None:
        """Nothing.
        ---
        body: NoSuchModel
        responses:
          200: {description: "ok"}
        """

    with pytest.raises(LookupError, match="NoSuchModel"):
        body_model(endpoint, "NoSuchModel")


def test_the_server_serves_its_document(server: Server) -> None:
    response = httpx.get(f"{server.http}/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    token = document["paths"]["/api/v1/auth/token"]["post"]
    schema_ref = token["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref == "#/components/schemas/TokenRequest"
    assert set(document["components"]["schemas"]["TokenRequest"]["required"]) == {
        "username",
        "password",
    }
    assert "401" in token["responses"]
