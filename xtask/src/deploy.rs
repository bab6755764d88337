//! What the deploy templates' tests (`xtask/tests/deploy.rs`) need, installed on demand:
//! `cfn-lint` from PyPI into `target/deploy-venv`, and the CDK app's npm packages
//! (`aws-cdk-lib`, `constructs`, `typescript`, from its `package-lock.json`) into
//! `examples/deploy/cdk/node_modules`. Synthesis needs no AWS account. Also the AWS SDK for
//! JavaScript v3 the extension's SDK endpoint tests run (`lambda-cache-extension/tests/clients`).

use std::path::PathBuf;
use std::process::Command;

use crate::{root, run};

/// The variable naming the `cfn-lint` program for the tests.
pub(crate) const CFN_LINT: &str = "LAMBDA_CACHE_CFN_LINT";
/// The variable naming the `node` program for the tests.
pub(crate) const NODE: &str = "LAMBDA_CACHE_NODE";

/// Installs what is missing; returns the variables to give the tests.
pub(crate) fn tools() -> Result<Vec<(&'static str, PathBuf)>, String> {
    let node = cdk_packages()?;
    sdk_clients()?;
    Ok(vec![(CFN_LINT, cfn_lint()?), (NODE, node)])
}

/// The AWS SDK for JavaScript v3 that the extension's SDK endpoint tests run as a function's
/// own code (`lambda-cache-extension/tests/clients`), installed from its lock file.
fn sdk_clients() -> Result<(), String> {
    let dir = root().join("lambda-cache-extension/tests/clients");
    let installed = [
        "client-ssm",
        "client-secrets-manager",
        "client-dynamodb",
        "client-appconfigdata",
    ]
    .iter()
    .all(|name| {
        dir.join("node_modules/@aws-sdk")
            .join(name)
            .join("package.json")
            .exists()
    });
    if !installed {
        eprintln!(
            "xtask: installing the AWS SDK for JavaScript v3 (npm) for the extension's SDK tests"
        );
        let mut install = Command::new("npm");
        install
            .current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
        run(install).map_err(|e| format!("{e}: npm is needed for the extension's SDK tests"))?;
    }
    Ok(())
}

/// `cfn-lint`, in a virtual environment of ours.
fn cfn_lint() -> Result<PathBuf, String> {
    let venv = root().join("target/deploy-venv");
    let program = venv.join("bin/cfn-lint");
    let works = |program: &PathBuf| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if works(&program) {
        return Ok(program);
    }
    eprintln!("xtask: installing cfn-lint (PyPI) for the deploy templates' tests");
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(&venv);
    run(create).map_err(|e| format!("{e}: cfn-lint needs Python 3 with venv"))?;
    let mut install = Command::new(venv.join("bin/pip"));
    install.args(["install", "--quiet", "cfn-lint>=1.20,<2"]);
    run(install)?;
    if works(&program) {
        Ok(program)
    } else {
        Err(format!(
            "{} does not run after its install",
            program.display()
        ))
    }
}

/// The CDK app's npm packages, installed from its lock file; returns the `node` to run it.
fn cdk_packages() -> Result<PathBuf, String> {
    let node = ["node", "nodejs"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .ok_or("node is not installed: the CDK app's test needs Node.js (18 or later) and npm")?;
    let app = root().join("examples/deploy/cdk");
    if !app.join("node_modules/aws-cdk-lib/package.json").exists()
        || !app.join("node_modules/typescript/bin/tsc").exists()
    {
        eprintln!("xtask: installing the CDK app's npm packages (aws-cdk-lib, typescript)");
        let mut install = Command::new("npm");
        install
            .current_dir(&app)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
        run(install).map_err(|e| format!("{e}: npm is needed for the CDK app's test"))?;
    }
    Ok(PathBuf::from(node))
}
