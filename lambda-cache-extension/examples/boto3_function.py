"""A Lambda handler with plain boto3 calls, unchanged.

Nothing here knows about the extension: the function's configuration sets
AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL_DYNAMODB to
http://127.0.0.1:<port>, and these reads are answered from the extension's cache.
"""

import os

import boto3

ssm = boto3.client("ssm")
secrets = boto3.client("secretsmanager")
dynamodb = boto3.client("dynamodb")


def handler(event, context):
    color = ssm.get_parameter(Name=os.environ["DEMO_PARAMETER"])["Parameter"]["Value"]
    secret = secrets.get_secret_value(SecretId=os.environ["DEMO_SECRET"])["SecretString"]
    user = dynamodb.get_item(TableName=os.environ["DEMO_TABLE"], Key={"pk": {"S": "u1"}})["Item"]
    # Never a secret's value in a log: its length only.
    return {"color": color, "secret_length": len(secret), "user": user["name"]["S"]}


if __name__ == "__main__":
    for i in range(int(os.environ.get("DEMO_INVOCATIONS", "5"))):
        print(f"  invocation {i + 1}: {handler({}, None)}")
