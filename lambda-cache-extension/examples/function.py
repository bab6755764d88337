"""A Lambda function in Python (standard library only) reading through lambda-cache-extension.

The extension listens on 127.0.0.1. Every route but /ping needs the header
X-Aws-Parameters-Secrets-Token with the value of AWS_SESSION_TOKEN (Lambda sets it).
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

PORT = os.environ.get("CACHE_EXTENSION_PORT", "4000")
TOKEN = os.environ["AWS_SESSION_TOKEN"]
BASE = f"http://127.0.0.1:{PORT}"


def get(path):
    """GET path from the extension: (status, source, age in ms, body)."""
    request = urllib.request.Request(
        BASE + path, headers={"X-Aws-Parameters-Secrets-Token": TOKEN}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return (
                response.status,
                response.headers.get("x-lambda-cache-source"),
                response.headers.get("x-lambda-cache-age-ms"),
                json.loads(response.read()),
            )
    except urllib.error.HTTPError as error:
        return error.code, None, None, json.loads(error.read())


def backend_calls():
    return get("/v1/stats")[3]["cache"]["fetches"]


def show(path, shown):
    status, source, age, body = get(path)
    where = f"{source}, age {age} ms" if source else body.get("__type")
    print(f"  {path:<62} {status} {where:<22} {shown(body)}  backend calls so far: {backend_calls()}")


def handler(event, context=None):
    table = os.environ["DEMO_TABLE"]
    parameter = os.environ["DEMO_PARAMETER"]
    secret = os.environ["DEMO_SECRET"]
    # The seed's route: an item as plain JSON.
    for key in ("u1", "u2"):
        show(f"/dynamodb?name={table}@@{key}", lambda item: json.dumps(item))
    # The AWS Parameters and Secrets extension's routes: SSM's and Secrets Manager's shapes.
    show(
        "/systemsmanager/parameters/get?name=" + urllib.parse.quote(parameter, safe=""),
        lambda body: "Value=" + body["Parameter"]["Value"],
    )
    show(
        "/secretsmanager/get?secretId=" + urllib.parse.quote(secret, safe=""),
        # A secret is used, never printed.
        lambda body: f"SecretString: {len(body['SecretString'])} characters (not shown)",
    )
    # A miss is a real 404, never a 200.
    show(f"/dynamodb?name={table}@@nobody", lambda body: body["message"])


if __name__ == "__main__":
    for invocation in range(1, int(os.environ.get("DEMO_INVOCATIONS", "3")) + 1):
        print(f"invocation {invocation}:")
        handler({})
