// lambda-cache's deploy example: (a) a Rust function using the library, (b) a Python function
// with the extension layer. `npm run synth` writes the CloudFormation template; no account is
// needed. Asset paths: RUST_CODE_DIR (cargo lambda's output directory holding `bootstrap`) and
// LAYER_ZIP (`cargo xtask layer --arch ...`); ARCHITECTURE is arm64 (default) or x86_64.
import * as path from "path";
import { App, CfnOutput, Duration, Stack } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { grantCachedReads } from "../lib/grants";

const root = path.resolve(__dirname, "..", "..", "..", "..", "..");
const rustCode = process.env.RUST_CODE_DIR ?? path.join(root, "target", "lambda", "config-and-secret");
const layerZip = process.env.LAYER_ZIP ?? path.join(root, "target", "layer", "lambda-cache-extension.zip");
const architecture = process.env.ARCHITECTURE === "x86_64" ? lambda.Architecture.X86_64 : lambda.Architecture.ARM_64;

const app = new App({ outdir: process.env.CDK_OUTDIR });
const stack = new Stack(app, "LambdaCacheExample", {
  description: "lambda-cache: a Rust function using the library and a Python function with the extension layer",
});
const parameterPath = "/myapp/prod";
const secretName = "myapp/prod/db";

// (a) The Rust function: ten parameters and a secret, through the library.
const rust = new lambda.Function(stack, "RustFunction", {
  runtime: lambda.Runtime.PROVIDED_AL2023,
  architecture,
  handler: "bootstrap",
  code: lambda.Code.fromAsset(rustCode),
  memorySize: 256,
  timeout: Duration.seconds(10),
  environment: { APP_PREFIX: parameterPath, APP_DB_SECRET: secretName },
});
grantCachedReads(rust.role!, stack, { parameterPath, secretNames: [secretName] });

// (b) The extension as a layer, and a Python function reading through it.
const layer = new lambda.LayerVersion(stack, "ExtensionLayer", {
  code: lambda.Code.fromAsset(layerZip),
  compatibleArchitectures: [architecture],
  description: "lambda-cache-extension: cached SSM parameters, secrets, DynamoDB items and AppConfig profiles",
  license: "MIT OR Apache-2.0",
});
const python = new lambda.Function(stack, "PythonFunction", {
  runtime: lambda.Runtime.PYTHON_3_13,
  architecture,
  handler: "app.handler",
  code: lambda.Code.fromAsset(path.join(__dirname, "..", "..", "..", "python")),
  layers: [layer],
  memorySize: 256,
  timeout: Duration.seconds(10),
  environment: {
    PARAMETER_PATH: parameterPath,
    SECRET_ID: secretName,
    TABLE_NAME: "Users",
    SSM_PARAMETER_STORE_TTL: "300",
    SECRETS_MANAGER_TTL: "300",
    CACHE_EXTENSION_TTL: "5m",
    CACHE_EXTENSION_MAX_STALE: "10m",
    CACHE_EXTENSION_REFRESH_AHEAD: "0.8",
  },
});
grantCachedReads(python.role!, stack, {
  parameterPath,
  secretNames: [secretName],
  tables: ["Users"],
  viaExtension: true,
});

new CfnOutput(stack, "RustFunctionName", { value: rust.functionName });
new CfnOutput(stack, "PythonFunctionName", { value: python.functionName });
new CfnOutput(stack, "ExtensionLayerArn", { value: layer.layerVersionArn });
app.synth();
