"""IAM policies: the deployment's statements parsed, and enforced per function.

The SDK calls here are signed with each function's own resource-principal
credentials, the key and token the local cloud wrote for its running fdk
process, so each request is what that function's code would send.
"""

from __future__ import annotations

import base64
from pathlib import Path

import oci
import pytest
from oci.auth.signers import EphemeralResourcePrincipalSigner
from oci.streaming.models import (
    CreateGroupCursorDetails,
    PutMessagesDetails,
    PutMessagesDetailsEntry,
)
from ocilocal.identity import Principal
from ocilocal.policies import (
    DynamicGroup,
    Policies,
    PolicyError,
    expand,
    parse_condition,
    parse_statement,
    read_dynamic_groups,
    read_statements,
)

REPOSITORY = Path(__file__).resolve().parents[2]
IAM_DIR = REPOSITORY / "deploy" / "iam"
NO_RETRY = oci.retry.NoneRetryStrategy()


def function_signer(local_cloud: dict, name: str) -> EphemeralResourcePrincipalSigner:
    """A signer holding the credentials the local cloud gave a running function."""
    run_dir = Path(local_cloud["data_dir"]) / "run" / name
    return EphemeralResourcePrincipalSigner(
        session_token=(run_dir / "rpst").read_text(),
        private_key=(run_dir / "private.pem").read_text(),
        region=local_cloud["region"],
    )


def secrets_as(local_cloud: dict, name: str) -> oci.secrets.SecretsClient:
    return oci.secrets.SecretsClient(
        {},
        signer=function_signer(local_cloud, name),
        service_endpoint=local_cloud["endpoint"],
        retry_strategy=NO_RETRY,
    )


def streams_as(local_cloud: dict, name: str) -> oci.streaming.StreamClient:
    return oci.streaming.StreamClient(
        {},
        signer=function_signer(local_cloud, name),
        service_endpoint=local_cloud["endpoint"],
        retry_strategy=NO_RETRY,
    )


def one_message() -> PutMessagesDetails:
    value = base64.b64encode(b'{"name": "Policy Probe", "age": 1}').decode()
    return PutMessagesDetails(messages=[PutMessagesDetailsEntry(value=value)])


def assert_not_authorized(call) -> None:
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        call()
    assert caught.value.status == 404
    assert caught.value.code == "NotAuthorizedOrNotFound"
    assert caught.value.request_id


# the grammar


def test_parse_statement_deployment_file_every_line_parses():
    statements = read_statements(IAM_DIR / "policies.txt")
    groups = read_dynamic_groups(IAM_DIR / "dynamic-groups.json")

    assert len(statements) >= 4
    assert {group.name for group in groups} == {
        "ocifn-publish-message",
        "ocifn-drain-stream-to-db",
        "ocifn-read-secret",
    }
    assert all(statement.condition is not None for statement in statements)


def test_parse_statement_locations_and_conditions_are_read():
    in_tenancy = parse_statement("Allow any-user to read streams in tenancy")
    by_name = parse_statement(
        "allow dynamic-group g to manage secret-family in compartment apps "
        "where any {target.secret.name = 'a', target.secret.name != 'b'}"
    )

    assert in_tenancy.compartment is None and in_tenancy.condition is None
    assert by_name.subject_name == "g"
    assert by_name.compartment == "apps" and by_name.compartment_by_name
    assert by_name.condition.mode == "any"
    assert [test.negated for test in by_name.condition.tests] == [False, True]


@pytest.mark.parametrize(
    "text",
    [
        "Allow group to read streams in tenancy",
        "Allow any-user to fly streams in tenancy",
        "Allow any-user to read streams in tenancy where target.stream.id = x",
        "Deny any-user to read streams in tenancy",
    ],
)
def test_parse_statement_outside_grammar_raises(text):
    with pytest.raises(PolicyError):
        parse_statement(text)


def test_expand_multi_valued_placeholder_gives_each_value():
    values = {"NAME": {"a", "b"}}

    assert expand("${NAME}", values) == {"a", "b"}
    assert expand("x-${NAME}", values) == {"x-a", "x-b"}
    assert expand("${MISSING}", values) == set()


def test_condition_single_test_ignores_case_and_missing_variable_is_false():
    condition = parse_condition("target.stream.id = 'OCID1.STREAM.X'")

    assert condition.holds({"target.stream.id": "ocid1.stream.x"}, {})
    assert not condition.holds({}, {})


def test_policies_dynamic_group_rule_grants_only_its_members():
    policies = Policies(
        [
            parse_statement(
                "Allow dynamic-group fns to use stream-push in compartment id "
                "${COMPARTMENT_ID} where target.stream.id = '${STREAM_ID}'"
            )
        ],
        [
            DynamicGroup(
                "fns",
                parse_condition(
                    "ALL {resource.type = 'fnfunc', resource.id = '${FN_ID}'}"
                ),
            )
        ],
        lambda: {"COMPARTMENT_ID": {"c1"}, "STREAM_ID": {"s1"}, "FN_ID": {"f1"}},
    )
    member = Principal("resource", "f1", "t", "c1", "fnfunc")
    stranger = Principal("resource", "f2", "t", "c1", "fnfunc")
    target = {"target.stream.id": "s1", "target.compartment.id": "c1"}

    assert policies.allows(member, "use", "stream-push", target)
    assert not policies.allows(stranger, "use", "stream-push", target)
    assert not policies.allows(member, "manage", "stream-push", target)
    assert not policies.allows(member, "use", "stream-pull", target)
    assert not policies.allows(
        member, "use", "stream-push", {**target, "target.compartment.id": "c2"}
    )
    assert policies.allows(Principal("user", "u", "t"), "manage", "vaults", {})


# enforced on the running cloud, with each function's own credentials


def test_policy_publish_message_reading_secret_answers_404(local_cloud):
    client = secrets_as(local_cloud, "publish-message")

    assert_not_authorized(
        lambda: client.get_secret_bundle(local_cloud["secrets"]["greeting"])
    )


def test_policy_publish_message_putting_on_people_answers_200(local_cloud):
    client = streams_as(local_cloud, "publish-message")

    result = client.put_messages(local_cloud["streams"]["people"]["id"], one_message())

    assert result.data.failures == 0


def test_policy_publish_message_putting_on_other_stream_answers_404(
    local_cloud, new_stream
):
    client = streams_as(local_cloud, "publish-message")
    other = new_stream(partitions=1)

    assert_not_authorized(lambda: client.put_messages(other, one_message()))


def test_policy_drain_putting_messages_answers_404(local_cloud):
    client = streams_as(local_cloud, "drain-stream-to-db")

    assert_not_authorized(
        lambda: client.put_messages(
            local_cloud["streams"]["people"]["id"], one_message()
        )
    )


def test_policy_drain_group_cursor_and_its_secrets_are_allowed(local_cloud):
    streams = streams_as(local_cloud, "drain-stream-to-db")
    secrets = secrets_as(local_cloud, "drain-stream-to-db")
    details = CreateGroupCursorDetails(
        group_name="policy-probe", instance_name="probe", type="LATEST"
    )

    cursor = streams.create_group_cursor(
        local_cloud["streams"]["people"]["id"], details
    ).data
    bundles = [
        secrets.get_secret_bundle(local_cloud["secrets"][name]).data
        for name in ("stream-connection", "db-connection")
    ]

    assert cursor.value
    assert all(bundle.secret_bundle_content.content for bundle in bundles)
    assert_not_authorized(
        lambda: secrets.get_secret_bundle(local_cloud["secrets"]["greeting"])
    )


def test_policy_read_secret_non_allow_listed_secret_answers_404(local_cloud):
    """read-secret's own allow-list is bypassed: the request goes straight out."""
    client = secrets_as(local_cloud, "read-secret")

    assert_not_authorized(
        lambda: client.get_secret_bundle_by_name(
            "db-connection", local_cloud["vault_id"]
        )
    )
    assert_not_authorized(
        lambda: client.get_secret_bundle(local_cloud["secrets"]["db-connection"])
    )


def test_policy_read_secret_allow_listed_secret_by_name_and_id_answers_200(
    local_cloud,
):
    client = secrets_as(local_cloud, "read-secret")

    by_name = client.get_secret_bundle_by_name("greeting", local_cloud["vault_id"])
    by_id = client.get_secret_bundle(local_cloud["secrets"]["greeting"])

    assert by_name.data.secret_id == local_cloud["secrets"]["greeting"]
    assert by_id.data.secret_id == local_cloud["secrets"]["greeting"]


def test_policy_function_admin_call_without_statement_answers_404(local_cloud):
    signer = function_signer(local_cloud, "publish-message")
    admin = oci.streaming.StreamAdminClient(
        {},
        signer=signer,
        service_endpoint=local_cloud["endpoint"],
        retry_strategy=NO_RETRY,
    )

    assert_not_authorized(
        lambda: admin.list_streams(compartment_id=local_cloud["compartment_id"])
    )
