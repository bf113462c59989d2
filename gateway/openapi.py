"""The OpenAPI document of the HTTP API, built from the live route table.

Every HTTP endpoint's docstring ends with a YAML block after a ``---`` line
(Starlette's convention): ``tags``, ``responses`` and any query
``parameters``; the prose above the line is the summary (its first
paragraph) and the description (the rest). ``body: ModelName`` names the pydantic model the endpoint
parses; its JSON schema becomes the request body, so the document and the
validator cannot disagree. Path parameters are read from the path itself,
and error responses get the one error shape of the protocol.

Built from the routes the app serves, so no route exists without an entry;
``tests/gateway/test_openapi.py`` checks each entry is complete and that the
model each endpoint parses is the one it documents.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_PATH_PARAM = re.compile(r"{(\w+)}")


class ApiDocument(SchemaGenerator):
    """Starlette's generator, plus request bodies from pydantic models, path
    parameters and the shared error shape."""

    def __init__(self) -> None:
        super().__init__(
            {
                "openapi": "3.1.0",
                "info": {
                    "title": "Switchboard",
                    "version": "1",
                    "description": "The HTTP API of Switchboard (see docs/protocol.md for "
                    "the websockets).",
                },
                "components": {
                    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                    "schemas": {"Error": ERROR_SCHEMA},
                },
            }
        )

    def parse_docstring(self, func_or_method: Any) -> dict[str, Any]:
        operation = super().parse_docstring(func_or_method)
        doc = func_or_method.__doc__ or ""
        if not operation or "---" not in doc:
            return operation
        prose = inspect.cleandoc(doc.split("---")[0]).split("\n\n", 1)
        operation = {"summary": " ".join(prose[0].split()).rstrip("."), **operation}
        if len(prose) > 1 and "description" not in operation:
            operation["description"] = prose[1].strip()
        return operation

    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        document = dict(self.base_schema)
        schemas: dict[str, Any] = dict(document["components"]["schemas"])
        paths: dict[str, dict[str, Any]] = {}
        for endpoint in self.get_endpoints(routes):
            operation = self.parse_docstring(endpoint.func)
            if not operation:
                continue
            operation = dict(operation)
            body = operation.pop("body", None)
            if body is not None:
                model = body_model(endpoint.func, body)
                schemas.update(_model_schemas(model))
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                        }
                    },
                }
            declared = {p.get("name") for p in operation.get("parameters", [])}
            path_params = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PATH_PARAM.findall(endpoint.path)
                if name not in declared
            ]
            if path_params:
                operation["parameters"] = path_params + list(operation.get("parameters", []))
            operation["responses"] = {
                str(status): _response(status, spec)
                for status, spec in operation.get("responses", {}).items()
            }
            operation.setdefault("operationId", f"{endpoint.http_method}_{endpoint.func.__name__}")
            paths.setdefault(endpoint.path, {})[endpoint.http_method] = operation
        document["paths"] = dict(sorted(paths.items()))
        document["components"] = {**document["components"], "schemas": schemas}
        return document


def body_model(func: Any, name: str) -> type[BaseModel]:
    """The pydantic model an endpoint's docstring names, from its module."""
    model = func.__globals__.get(name)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise LookupError(f"{func.__module__}.{func.__name__}: body {name!r} is not a model")
    return model


def _model_schemas(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = schema.pop("$defs", {})
    return {**nested, model.__name__: schema}


def _response(status: object, spec: Any) -> dict[str, Any]:
    response = dict(spec) if isinstance(spec, dict) else {"description": str(spec)}
    if str(status)[0] in "45" and "content" not in response:
        response["content"] = {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        }
    return response


def build(routes: list[BaseRoute]) -> dict[str, Any]:
    return ApiDocument().get_schema(routes)


async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 document of this API.
    ---
    tags: [meta]
    responses:
      200: {description: "the document"}
    """
    document = getattr(request.app.state, "openapi", None)
    if document is None:
        document = request.app.state.openapi = build(request.app.routes)
    return JSONResponse(document)


routes = [Route("/api/v1/openapi.json", openapi, methods=["GET"])]
