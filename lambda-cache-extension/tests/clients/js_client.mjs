// A function's own AWS SDK for JavaScript v3 code, unchanged: only AWS_ENDPOINT_URL_* point it
// at the extension. Reads the plan (JSON) from standard input, makes the calls it names, and
// prints what each answered as one JSON object for the Rust test to check.

import { SSMClient, GetParameterCommand, GetParametersCommand, PutParameterCommand,
  ParameterNotFound, paginateGetParametersByPath } from "@aws-sdk/client-ssm";
import { SecretsManagerClient, GetSecretValueCommand, PutSecretValueCommand,
  BatchGetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { AppConfigDataClient, StartConfigurationSessionCommand, GetLatestConfigurationCommand }
  from "@aws-sdk/client-appconfigdata";
import { DynamoDBClient, GetItemCommand, PutItemCommand, BatchGetItemCommand }
  from "@aws-sdk/client-dynamodb";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const plan = JSON.parse(Buffer.concat(chunks).toString());
const options = { maxAttempts: 1 };
const ssm = new SSMClient(options);
const secrets = new SecretsManagerClient(options);
const dynamodb = new DynamoDBClient(options);
const out = {};

async function codeOf(call) {
  try {
    await call();
    return null;
  } catch (e) {
    return e.name;
  }
}

if (plan.mode === "appconfig") {
  // AppConfigData's session: a token, then polls; prints each poll's body and the last token.
  const appconfig = new AppConfigDataClient(options);
  let token = plan.token;
  if (token === undefined) {
    const session = await appconfig.send(new StartConfigurationSessionCommand({
      ApplicationIdentifier: plan.application, EnvironmentIdentifier: plan.environment,
      ConfigurationProfileIdentifier: plan.profile, RequiredMinimumPollIntervalInSeconds: 15,
    }));
    token = session.InitialConfigurationToken;
  }
  const bodies = [];
  for (let i = 0; i < plan.polls; i++) {
    const answer = await appconfig.send(new GetLatestConfigurationCommand({ ConfigurationToken: token }));
    bodies.push(Buffer.from(answer.Configuration ?? []).toString());
    token = answer.NextPollConfigurationToken;
    out.content_type = answer.ContentType;
    out.interval = answer.NextPollIntervalInSeconds;
  }
  out.bodies = bodies;
  out.token = token;
  out.missing = await codeOf(() => appconfig.send(new StartConfigurationSessionCommand({
    ApplicationIdentifier: plan.application, EnvironmentIdentifier: plan.environment,
    ConfigurationProfileIdentifier: "no-such-profile",
  })));
  out.bad_token = await codeOf(() => appconfig.send(new GetLatestConfigurationCommand({ ConfigurationToken: "not-a-token" })));
  console.log(JSON.stringify(out));
  process.exit(0);
}

if (plan.mode === "read") {
  // One read of each, for a test that changes the backend between runs.
  const parameter = await ssm.send(new GetParameterCommand({ Name: plan.parameter }));
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: plan.secret }));
  const item = await dynamodb.send(new GetItemCommand({ TableName: plan.table, Key: plan.key }));
  console.log(JSON.stringify({ parameter: parameter.Parameter.Value, secret: secret.SecretString, item: item.Item }));
  process.exit(0);
}


const values = new Set();
for (let i = 0; i < plan.reads; i++) {
  const answer = await ssm.send(new GetParameterCommand({ Name: plan.parameter }));
  values.add(answer.Parameter.Value);
  out.last_modified_type = answer.Parameter.LastModifiedDate instanceof Date ? "Date" : typeof answer.Parameter.LastModifiedDate;
}
out.parameter = [...values].sort();

const secretValues = new Set();
for (let i = 0; i < plan.reads; i++) {
  const answer = await secrets.send(new GetSecretValueCommand({ SecretId: plan.secret }));
  secretValues.add(answer.SecretString);
}
out.secret = [...secretValues].sort();

const items = [];
for (let i = 0; i < plan.reads; i++) {
  const answer = await dynamodb.send(new GetItemCommand({ TableName: plan.table, Key: plan.key }));
  items.push(answer.Item);
}
out.item = items[0];
out.items_alike = items.every((item) => JSON.stringify(item) === JSON.stringify(items[0]));

const names = plan.names;
for (const round of ["first", "second"]) {
  const found = {};
  out[round + "_invalid"] = [];
  for (let i = 0; i < names.length; i += 10) {
    const answer = await ssm.send(new GetParametersCommand({ Names: names.slice(i, i + 10) }));
    for (const p of answer.Parameters) found[p.Name] = p.Value;
    out[round + "_invalid"].push(...answer.InvalidParameters);
  }
  out[round] = found;
}

out.eleven = await codeOf(() => ssm.send(new GetParametersCommand({ Names: names.slice(0, 11) })));
const withMissing = await ssm.send(new GetParametersCommand({ Names: [names[0], plan.missing] }));
out.with_missing = [withMissing.InvalidParameters, withMissing.Parameters.length];
try {
  await ssm.send(new GetParameterCommand({ Name: plan.missing }));
  out.missing = null;
} catch (e) {
  out.missing = e instanceof ParameterNotFound ? "ParameterNotFound (its own class)" : e.name;
}

// A path walked in pages, twice: one walk of the service serves both.
for (const round of ["path_first", "path_second"]) {
  let pages = 0;
  const seen = [];
  for await (const page of paginateGetParametersByPath({ client: ssm }, { Path: plan.path, Recursive: true })) {
    pages += 1;
    seen.push(...page.Parameters.map((p) => p.Name));
  }
  out[round] = [pages, seen.sort()];
}

// Batches: held entries answer what they can, one backend batch the rest, none the second time.
const ids = [plan.secret, plan.secret2, plan.secret3];
for (const round of ["secrets_first", "secrets_second"]) {
  const answer = await secrets.send(new BatchGetSecretValueCommand({ SecretIdList: ids }));
  out[round] = [answer.SecretValues.map((v) => v.SecretString), answer.Errors];
}
const keys = ["a", "b", "c"].map((k) => ({ pk: { S: k } }));
for (const round of ["items_first", "items_second"]) {
  const answer = await dynamodb.send(new BatchGetItemCommand({ RequestItems: { [plan.table]: { Keys: keys } } }));
  out[round] = [answer.Responses[plan.table].map((item) => item.s.S).sort(), answer.UnprocessedKeys];
}
const projected = await dynamodb.send(new BatchGetItemCommand({
  RequestItems: { [plan.table]: { Keys: keys.slice(0, 2), ProjectionExpression: "#s", ExpressionAttributeNames: { "#s": "s" } } },
}));
// As Python's json.dumps(item, sort_keys=True) writes it, for one expectation.
out.items_projected = projected.Responses[plan.table].map((item) => `{"s": {"S": "${item.s.S}"}}`
  + (Object.keys(item).length === 1 ? "" : " and more")).sort();
out.hundred_and_one = await codeOf(() => dynamodb.send(new BatchGetItemCommand({
  RequestItems: { [plan.table]: { Keys: [...Array(101).keys()].map((i) => ({ pk: { S: String(i) } })) } },
})));

const foreign = new SSMClient({ ...options,
  credentials: { accessKeyId: "AKIDFOREIGN", secretAccessKey: "x".repeat(40) } });
out.foreign_key = await codeOf(() => foreign.send(new GetParameterCommand({ Name: plan.parameter })));
const forged = new SSMClient({ ...options,
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: "not-the-secret" } });
out.forged = await codeOf(() => forged.send(new GetParameterCommand({ Name: plan.parameter })));
const forgedSecrets = new SecretsManagerClient({ ...options,
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: "not-the-secret" } });
out.forged_secret = await codeOf(() => forgedSecrets.send(new GetSecretValueCommand({ SecretId: plan.secret })));

await ssm.send(new PutParameterCommand({ Name: plan.parameter, Value: "changed", Type: "String", Overwrite: true }));
out.after_put = (await ssm.send(new GetParameterCommand({ Name: plan.parameter }))).Parameter.Value;
await secrets.send(new PutSecretValueCommand({ SecretId: plan.secret, SecretString: "rotated-value" }));
out.after_rotate = (await secrets.send(new GetSecretValueCommand({ SecretId: plan.secret }))).SecretString;
await dynamodb.send(new PutItemCommand({ TableName: plan.table, Item: { ...plan.key, s: { S: "changed" } } }));
out.after_put_item = (await dynamodb.send(new GetItemCommand({ TableName: plan.table, Key: plan.key }))).Item;

console.log(JSON.stringify(out));
