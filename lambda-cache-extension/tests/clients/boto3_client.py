"""A function's own boto3 code, unchanged: only AWS_ENDPOINT_URL_* point it at the extension.

Reads the plan (JSON) from standard input, makes the calls it names, and prints what each
answered as one JSON object: the Rust test compares it with the emulator's values and counts
the calls the backend saw.
"""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

plan = json.load(sys.stdin)
config = Config(retries={"max_attempts": 1, "mode": "standard"})
ssm = boto3.client("ssm", config=config)
secrets = boto3.client("secretsmanager", config=config)
dynamodb = boto3.client("dynamodb", config=config)
out = {}


def code_of(call):
    """The error code the SDK raised for `call`, or None if it answered."""
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None



if plan.get("mode") == "read":
    # One read of each, for a test that changes the backend between runs.
    print(json.dumps({
        "parameter": ssm.get_parameter(Name=plan["parameter"])["Parameter"]["Value"],
        "secret": secrets.get_secret_value(SecretId=plan["secret"])["SecretString"],
        "item": dynamodb.get_item(TableName=plan["table"], Key=plan["key"])["Item"],
    }))
    sys.exit(0)

if plan.get("mode") == "appconfig":
    # AppConfigData's session: a token, then polls; prints each poll's body and the last token.
    appconfig = boto3.client("appconfigdata", config=config)
    token = plan.get("token")
    if token is None:
        token = appconfig.start_configuration_session(
            ApplicationIdentifier=plan["application"],
            EnvironmentIdentifier=plan["environment"],
            ConfigurationProfileIdentifier=plan["profile"],
            RequiredMinimumPollIntervalInSeconds=15,
        )["InitialConfigurationToken"]
    bodies = []
    for _ in range(plan["polls"]):
        answer = appconfig.get_latest_configuration(ConfigurationToken=token)
        bodies.append(answer["Configuration"].read().decode())
        token = answer["NextPollConfigurationToken"]
        out["content_type"] = answer["ContentType"]
        out["interval"] = answer["NextPollIntervalInSeconds"]
    out["bodies"] = bodies
    out["token"] = token
    out["missing"] = code_of(
        lambda: appconfig.start_configuration_session(
            ApplicationIdentifier=plan["application"],
            EnvironmentIdentifier=plan["environment"],
            ConfigurationProfileIdentifier="no-such-profile",
        )
    )
    out["bad_token"] = code_of(
        lambda: appconfig.get_latest_configuration(ConfigurationToken="not-a-token")
    )
    print(json.dumps(out))
    sys.exit(0)

reads = plan["reads"]
values = {ssm.get_parameter(Name=plan["parameter"])["Parameter"]["Value"] for _ in range(reads)}
out["parameter"] = sorted(values)
parameter = ssm.get_parameter(Name=plan["parameter"])["Parameter"]
out["parameter_fields"] = sorted(parameter.keys())
out["last_modified_type"] = type(parameter["LastModifiedDate"]).__name__

values = {secrets.get_secret_value(SecretId=plan["secret"])["SecretString"] for _ in range(reads)}
out["secret"] = sorted(values)

key = plan["key"]
items = [dynamodb.get_item(TableName=plan["table"], Key=key)["Item"] for _ in range(reads)]
out["item"] = items[0]
out["items_alike"] = all(item == items[0] for item in items)

names = plan["names"]
chunks = [names[i : i + 10] for i in range(0, len(names), 10)]
for round_name in ("first", "second"):
    found = {}
    for chunk in chunks:
        answer = ssm.get_parameters(Names=chunk)
        for p in answer["Parameters"]:
            found[p["Name"]] = p["Value"]
        out.setdefault(round_name + "_invalid", []).extend(answer["InvalidParameters"])
    out[round_name] = found

out["eleven"] = code_of(lambda: ssm.get_parameters(Names=names[:11]))
with_missing = ssm.get_parameters(Names=[names[0], plan["missing"]])
out["with_missing"] = [with_missing["InvalidParameters"], len(with_missing["Parameters"])]
try:
    ssm.get_parameter(Name=plan["missing"])
    out["missing"] = None
except ssm.exceptions.ParameterNotFound as e:
    out["missing"] = "ssm.exceptions.ParameterNotFound: " + e.response["Error"]["Code"]

# A path walked in pages, twice: one walk of the service serves both.
paginator = ssm.get_paginator("get_parameters_by_path")
for round_name in ("path_first", "path_second"):
    pages, seen = 0, []
    for page in paginator.paginate(Path=plan["path"], Recursive=True):
        pages += 1
        seen += [p["Name"] for p in page["Parameters"]]
    out[round_name] = [pages, sorted(seen)]

# Batches: held entries answer what they can, one backend batch the rest, none the second time.
ids = [plan["secret"], plan["secret2"], plan["secret3"]]
for round_name in ("secrets_first", "secrets_second"):
    answer = secrets.batch_get_secret_value(SecretIdList=ids)
    out[round_name] = [[v["SecretString"] for v in answer["SecretValues"]], answer["Errors"]]
keys = [{"pk": {"S": k}} for k in ("a", "b", "c")]
for round_name in ("items_first", "items_second"):
    answer = dynamodb.batch_get_item(RequestItems={plan["table"]: {"Keys": keys}})
    items = answer["Responses"][plan["table"]]
    out[round_name] = [sorted(item["s"]["S"] for item in items), answer["UnprocessedKeys"]]
answer = dynamodb.batch_get_item(
    RequestItems={
        plan["table"]: {
            "Keys": keys[:2],
            "ProjectionExpression": "#s",
            "ExpressionAttributeNames": {"#s": "s"},
        }
    }
)
items = answer["Responses"][plan["table"]]
out["items_projected"] = sorted(json.dumps(item, sort_keys=True) for item in items)
out["hundred_and_one"] = code_of(
    lambda: dynamodb.batch_get_item(
        RequestItems={plan["table"]: {"Keys": [{"pk": {"S": str(i)}} for i in range(101)]}}
    )
)

# A caller without this environment's credentials: another key, or the right key signed with
# another secret.
foreign = boto3.client(
    "ssm", config=config, aws_access_key_id="AKIDFOREIGN", aws_secret_access_key="x" * 40
)
out["foreign_key"] = code_of(lambda: foreign.get_parameter(Name=plan["parameter"]))
forged = boto3.client(
    "ssm",
    config=config,
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key="not-the-secret",
)
out["forged"] = code_of(lambda: forged.get_parameter(Name=plan["parameter"]))
forged_secrets = boto3.client(
    "secretsmanager",
    config=config,
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key="not-the-secret",
)
out["forged_secret"] = code_of(lambda: forged_secrets.get_secret_value(SecretId=plan["secret"]))

# Writes pass through to the service, and a read that follows sees them.
ssm.put_parameter(Name=plan["parameter"], Value="changed", Type="String", Overwrite=True)
out["after_put"] = ssm.get_parameter(Name=plan["parameter"])["Parameter"]["Value"]
secrets.put_secret_value(SecretId=plan["secret"], SecretString="rotated-value")
out["after_rotate"] = secrets.get_secret_value(SecretId=plan["secret"])["SecretString"]
dynamodb.put_item(TableName=plan["table"], Item={**key, "s": {"S": "changed"}})
out["after_put_item"] = dynamodb.get_item(TableName=plan["table"], Key=key)["Item"]

print(json.dumps(out))
