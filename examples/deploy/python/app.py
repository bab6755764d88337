"""A Python function reading through the lambda-cache extension layer: parameters and secrets
on the AWS Parameters and Secrets extension's port (2773), a DynamoDB item on the extension's
own port (4000). Every read after the first is answered from the extension's memory."""

import json
import os
import urllib.request

TOKEN = {"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")}


def _get(url):
    with urllib.request.urlopen(urllib.request.Request(url, headers=TOKEN), timeout=5) as answer:
        return json.loads(answer.read())


def handler(event, context):
    path = os.environ["PARAMETER_PATH"]
    parameter = _get(f"http://localhost:2773/systemsmanager/parameters/get?name={path}/db-url")
    secret = _get(
        "http://localhost:2773/secretsmanager/get?secretId=" + os.environ["SECRET_ID"]
    )
    item = _get(
        "http://localhost:4000/dynamodb?name=" + os.environ["TABLE_NAME"] + "@@" + event.get("id", "default")
    )
    return {
        "dbUrl": parameter["Parameter"]["Value"],
        "secretVersion": secret["VersionId"],
        "item": item,
    }
