//! The deploy templates of `examples/deploy/`, validated offline: the SAM template by
//! `cfn-lint`; the CDK app compiled, synthesised (no account needed) and its template linted
//! too. `cargo xtask test` installs `cfn-lint` (PyPI) and the app's npm packages and names
//! them in `LAMBDA_CACHE_CFN_LINT` and `LAMBDA_CACHE_NODE`; without them these tests fail.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(variable: &str) -> PathBuf {
    std::env::var_os(variable).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{variable} is not set: run the tests with `cargo xtask test`, which installs cfn-lint and the CDK app's npm packages")
    })
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/deploy")
}

/// Runs `command`; its output if it succeeded, else a panic with it.
fn output(mut command: Command) -> String {
    let shown = format!("{command:?}");
    let out = command.output().unwrap_or_else(|e| panic!("{shown}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{text}",
        out.status
    );
    text
}

#[test]
fn the_sam_template_passes_cfn_lint() {
    let mut lint = Command::new(tool("LAMBDA_CACHE_CFN_LINT"));
    lint.arg(deploy().join("sam/template.yaml"));
    output(lint);
}

#[test]
fn the_cdk_app_synthesises_a_template_that_passes_cfn_lint() {
    let node = tool("LAMBDA_CACHE_NODE");
    let app = deploy().join("cdk");
    let mut compile = Command::new(&node);
    compile
        .current_dir(&app)
        .arg("node_modules/typescript/bin/tsc");
    output(compile);
    // The assets the app packs: stand-ins for cargo lambda's output and the layer zip (the
    // synthesis copies them; it does not look inside).
    let dir = tempfile::tempdir().expect("a temporary directory");
    let code = dir.path().join("rust");
    std::fs::create_dir(&code).expect("a code directory");
    std::fs::write(code.join("bootstrap"), b"stand-in").expect("bootstrap");
    let layer = dir.path().join("layer.zip");
    std::fs::write(&layer, b"stand-in").expect("layer.zip");
    let out = dir.path().join("cdk.out");
    let mut synth = Command::new(&node);
    synth
        .current_dir(&app)
        .arg("dist/bin/app.js")
        .env("RUST_CODE_DIR", &code)
        .env("LAYER_ZIP", &layer)
        .env("CDK_OUTDIR", &out);
    output(synth);
    let path = out.join("LambdaCacheExample.template.json");
    let text = std::fs::read_to_string(&path).expect("the synthesised template");
    let template: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let resources = template["Resources"].as_object().expect("resources");
    let of_type = |kind: &str| {
        resources
            .values()
            .filter(|r| r["Type"] == kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(of_type("AWS::Lambda::Function").len(), 2);
    let layers = of_type("AWS::Lambda::LayerVersion");
    assert_eq!(
        layers[0]["Properties"]["CompatibleArchitectures"][0],
        "arm64"
    );
    // Every action granted: what the two functions read and nothing else.
    let statements: Vec<serde_json::Value> = of_type("AWS::IAM::Policy")
        .iter()
        .flat_map(|policy| {
            policy["Properties"]["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    for statement in &statements {
        if statement["Resource"] == "*" {
            // Only BatchGetSecretValue is authorised on "*" (each secret it returns still
            // needs GetSecretValue on its ARN).
            assert_eq!(statement["Action"], "secretsmanager:BatchGetSecretValue");
        }
    }
    let mut actions: Vec<String> = statements
        .iter()
        .flat_map(|statement| match &statement["Action"] {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(many) => many
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    actions.sort();
    actions.dedup();
    assert_eq!(
        actions,
        [
            "dynamodb:DescribeTable",
            "dynamodb:GetItem",
            "secretsmanager:BatchGetSecretValue",
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "ssm:GetParameter",
            "ssm:GetParameters",
            "ssm:GetParametersByPath",
        ]
    );
    // W3005: the CDK makes each function depend on its role, which its Role attribute already
    // implies; a known, harmless redundancy of the CDK's output.
    let mut lint = Command::new(tool("LAMBDA_CACHE_CFN_LINT"));
    lint.arg(&path).args(["--ignore-checks", "W3005"]);
    output(lint);
}
