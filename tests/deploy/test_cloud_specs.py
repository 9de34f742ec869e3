"""The gateway spec and the schedule deserialize into the OCI SDK's models."""

from __future__ import annotations

import json
import re

import oci
from deployment_files import FUNCTION_NAMES, OFFLINE_CONFIG, REPOSITORY
from ocilocal import gateway, scheduler

PLACEHOLDER = re.compile(r"^\$\{([A-Z][A-Z0-9_]*)_FUNCTION_ID\}$")


def function_name(function_id: str) -> str:
    """The function a placeholder names: READ_SECRET_FUNCTION_ID -> read-secret."""
    match = PLACEHOLDER.match(function_id)
    assert match, function_id
    return match.group(1).lower().replace("_", "-")


def gateway_document() -> dict:
    return json.loads((REPOSITORY / "deploy/gateway/deployment.json").read_text())


def schedule_document() -> dict:
    return json.loads((REPOSITORY / "deploy/schedule/drain-schedule.json").read_text())


def test_gateway_spec_round_trips_through_api_specification_model():
    client = oci.apigateway.DeploymentClient(OFFLINE_CONFIG, signer=object())
    document = gateway_document()

    model = client.base_client.deserialize_response_data(
        json.dumps(document).encode(), "ApiSpecification"
    )

    assert isinstance(model, oci.apigateway.models.ApiSpecification)
    assert client.base_client.sanitize_for_serialization(model) == document
    assert all(
        isinstance(route.backend, oci.apigateway.models.OracleFunctionBackend)
        for route in model.routes
    )


def test_gateway_spec_routes_map_to_functions_by_placeholder():
    routes = {
        (route["path"], tuple(route["methods"])): function_name(
            route["backend"]["functionId"]
        )
        for route in gateway_document()["routes"]
    }

    assert routes == {
        ("/messages", ("POST",)): "publish-message",
        ("/secrets/{name}", ("GET",)): "read-secret",
    }
    assert set(routes.values()) <= set(FUNCTION_NAMES)


def test_gateway_spec_secrets_route_requires_authentication():
    document = gateway_document()
    authentication = document["requestPolicies"]["authentication"]
    by_path = {route["path"]: route for route in document["routes"]}

    secrets_route = by_path["/secrets/{name}"]["requestPolicies"]["authorization"]

    assert authentication["type"] == "TOKEN_AUTHENTICATION"
    assert authentication["validationPolicy"]["uri"] == "${JWKS_URI}"
    assert secrets_route == {"type": "AUTHENTICATION_ONLY"}


def test_schedule_round_trips_through_create_schedule_details_model():
    client = oci.resource_scheduler.ScheduleClient(OFFLINE_CONFIG, signer=object())
    document = schedule_document()

    model = client.base_client.deserialize_response_data(
        json.dumps(document).encode(), "CreateScheduleDetails"
    )

    assert isinstance(model, oci.resource_scheduler.models.CreateScheduleDetails)
    assert client.base_client.sanitize_for_serialization(model) == document
    assert model.action == "START_RESOURCE"
    assert model.recurrence_type == "CRON"
    assert isinstance(
        model.resources[0].parameters[0], oci.resource_scheduler.models.BodyParameter
    )


def test_schedule_fires_drain_every_minute():
    document = schedule_document()

    targets = [function_name(resource["id"]) for resource in document["resources"]]

    assert targets == ["drain-stream-to-db"]
    assert document["recurrenceDetails"].split() == ["*"] * 5


def test_gateway_spec_local_gateway_reads_same_routes():
    known = {
        name: f"ocid1.fnfunc.oc1..{index}" for index, name in enumerate(FUNCTION_NAMES)
    }

    routes = gateway.load_routes(REPOSITORY / "deploy/gateway/deployment.json", known)

    assert [(r.path, r.methods, r.function) for r in routes] == [
        ("/messages", ("POST",), "publish-message"),
        ("/secrets/{name}", ("GET",), "read-secret"),
    ]


def test_schedule_local_scheduler_targets_drain():
    known = {
        name: f"ocid1.fnfunc.oc1..{index}" for index, name in enumerate(FUNCTION_NAMES)
    }

    name, target, body = scheduler.read_schedule(REPOSITORY / "deploy/schedule", known)

    assert (name, target) == ("drain-stream-to-db", "drain-stream-to-db")
    assert json.loads(body) == {"trigger": "schedule"}
