// The IAM each lambda-cache feature needs to read, and no more: one statement per service,
// scoped to the resources given.
import { Arn, ArnFormat, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";

/** What a function reads through lambda-cache (the library or the extension). */
export interface CachedReads {
  /** SSM parameters under this path (`/app/prod`): GetParameters, GetParametersByPath. */
  readonly parameterPath?: string;
  /** Secrets by name: GetSecretValue, DescribeSecret (revalidation), BatchGetSecretValue. */
  readonly secretNames?: string[];
  /** The customer KMS key of SecureStrings and secrets (none for AWS managed keys). */
  readonly kmsKeyArn?: string;
  /** S3 objects: bucket and key prefix. */
  readonly objects?: { bucket: string; prefix: string };
  /** DynamoDB tables: GetItem, BatchGetItem, DescribeTable. */
  readonly tables?: string[];
  /** AppConfig profiles: application, environment and profile ids. */
  readonly appConfig?: { application: string; environment: string; profile: string }[];
  /** Read through the extension layer rather than the library (its calls differ a little). */
  readonly viaExtension?: boolean;
}

/** Adds to `role` the statements `reads` needs. */
export function grantCachedReads(role: iam.IRole, stack: Stack, reads: CachedReads): void {
  const arn = (service: string, resource: string, resourceName?: string) =>
    Arn.format({ service, resource, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }, stack);
  const add = (actions: string[], resources: string[]) =>
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources }));
  if (reads.parameterPath) {
    const path = reads.parameterPath.replace(/^\//, "");
    // The extension's route is GetParameter (its preload batches with GetParameters); the
    // library reads with GetParameters, and GetParametersByPath for paths.
    const actions = reads.viaExtension
      ? ["ssm:GetParameter", "ssm:GetParameters"]
      : ["ssm:GetParameters", "ssm:GetParametersByPath"];
    add(actions, [arn("ssm", "parameter", path), arn("ssm", "parameter", `${path}/*`)]);
  }
  if (reads.secretNames?.length) {
    add(
      ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
      reads.secretNames.map((name) =>
        Arn.format(
          { service: "secretsmanager", resource: "secret", resourceName: `${name}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME },
          stack,
        ),
      ),
    );
    if (!reads.viaExtension) {
      // The library's batch reads. Authorised on "*"; each secret returned still needs
      // GetSecretValue above.
      add(["secretsmanager:BatchGetSecretValue"], ["*"]);
    }
  }
  if (reads.kmsKeyArn) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["kms:Decrypt"],
        resources: [reads.kmsKeyArn],
        conditions: {
          StringEquals: {
            "kms:ViaService": [`ssm.${stack.region}.amazonaws.com`, `secretsmanager.${stack.region}.amazonaws.com`],
          },
        },
      }),
    );
  }
  if (reads.objects) {
    add(["s3:GetObject"], [`arn:${stack.partition}:s3:::${reads.objects.bucket}/${reads.objects.prefix}*`]);
  }
  if (reads.tables?.length) {
    // DescribeTable: the key schema of a table the extension's cache.yaml does not list.
    add(
      reads.viaExtension
        ? ["dynamodb:GetItem", "dynamodb:DescribeTable"]
        : ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"],
      reads.tables.map((table) => arn("dynamodb", "table", table)),
    );
  }
  if (reads.appConfig?.length) {
    add(
      ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"],
      reads.appConfig.map((p) =>
        arn("appconfig", "application", `${p.application}/environment/${p.environment}/configuration/${p.profile}`),
      ),
    );
  }
}
