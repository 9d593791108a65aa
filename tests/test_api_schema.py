"""Schemathesis over the OpenAPI schema: bounded examples of every operation, against the
real server; no 5xx, and every response matches the schema it is documented with."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_support import Api

EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _exercise(url: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    tested = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the schema itself is valid
        operation = result.ok()
        if operation.path.endswith("/stream"):
            continue  # an endless event stream; the SSE tests read it for real
        strategy = operation.as_strategy()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=url, checks=CHECKS, timeout=30)

        check()
        tested.append(f"{operation.method.upper()} {operation.path}")
    return tested


async def test_the_schema_holds_for_generated_requests(api: Api) -> None:
    # A document of each kind exists, so ids the generator may reuse can be found.
    await api.http.post(
        "/api/v1/process", json={"identifier": "known", "target": "validate", "content": {}}
    )
    tested = await asyncio.to_thread(_exercise, api.url)
    assert "POST /submit" in tested and "POST /api/v1/process" in tested
    assert len(tested) >= 18
