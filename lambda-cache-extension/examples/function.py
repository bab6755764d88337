"""A Lambda function in Python (standard library only) reading through lambda-cache-extension.

The extension listens on 127.0.0.1. Every route but /ping needs the header
X-Aws-Parameters-Secrets-Token with the value of AWS_SESSION_TOKEN (Lambda sets it). AppConfig
profiles are also served on the AWS AppConfig extension's port, at its path.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

PORT = os.environ.get("CACHE_EXTENSION_PORT", "4000")
TOKEN = os.environ["AWS_SESSION_TOKEN"]
BASE = f"http://127.0.0.1:{PORT}"
APPCONFIG = f"http://127.0.0.1:{os.environ.get('AWS_APPCONFIG_EXTENSION_HTTP_PORT', '2772')}"


def get(path, base=BASE):
    """GET path from the extension: (status, source, age in ms, body)."""
    request = urllib.request.Request(
        base + path, headers={"X-Aws-Parameters-Secrets-Token": TOKEN}
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
        return (
            error.code,
            error.headers.get("x-lambda-cache-source"),
            None,
            json.loads(error.read()),
        )


def backend_calls():
    return get("/v1/stats")[3]["cache"]["fetches"]


def show(path, shown, base=BASE):
    status, source, age, body = get(path, base)
    if status != 200:
        # A remembered failure (negative cache) says it came from memory.
        where = body.get("__type") + (f" ({source})" if source else "")
    else:
        where = f"{source}, age {age} ms"
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
    # A miss is a real 404, never a 200; it is remembered for 30 s (CACHE_EXTENSION_NEGATIVE_TTL),
    # so polling a missing key does not cost a backend call per request.
    show(f"/dynamodb?name={table}@@nobody", lambda body: body["message"])
    # The AWS AppConfig extension's route, on its port: one feature flag of a profile.
    profile = os.environ.get("DEMO_FLAGS")
    if profile:
        show(f"{profile}?flag=new_checkout", lambda flag: f"enabled={flag['enabled']}", APPCONFIG)


if __name__ == "__main__":
    first = int(os.environ.get("DEMO_FIRST_INVOCATION", "1"))
    for invocation in range(first, first + int(os.environ.get("DEMO_INVOCATIONS", "3"))):
        print(f"invocation {invocation}:")
        handler({})
