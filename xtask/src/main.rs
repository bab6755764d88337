//! Project automation: `cargo xtask <command>`.
//!
//! - `test`: install the moto server if missing, start it on a free loopback port, run every
//!   test of the workspace against it, stop it; install `redis-server` if missing (the shared
//!   tier's tests start their own).
//! - `demo`: the same emulator, then the demo example (the project's main job), then the
//!   extension's demo (the built binary read by a Python function).
//! - `emulator`: start the emulator and print the environment to export; stops on Enter or
//!   end of input.
//! - `features`: build the facade with each feature alone, and check that each service feature
//!   links no other service's SDK.
//! - `bench`: the benchmarks, backend call counts and binary sizes; writes
//!   `target/bench-report.json`.
//! - `bench-against REV [RUNS]`: the hit benchmark of an older commit and of the working tree,
//!   run alternately in one sitting; prints each side's ratio to its own raw baseline.
//! - `bench-write [RUNS]`: the write benchmark alone (filling N keys and refreshing 1,000 of a
//!   full cache, N = 1,000 to 100,000, lambda-cache and moka, and memory per entry), `RUNS` times
//!   (5 by default); prints every run's figures and whether each target held in every run.
//! - `bench-boundary [RUNS]`: the read latency across a TTL boundary (one key expiring every
//!   100 ms against the emulator) without and with refresh ahead, beside the hit, `RUNS` times
//!   (3 by default); writes `target/bench-boundary.json`, and fails unless p99 with refresh
//!   ahead stays within 2x the hit's in every run.
//! - `size`: the binary sizes alone.
//! - `layer [--arch x86_64|arm64]`: the extension's release binary, stripped, and the layer
//!   zip (`extensions/lambda-cache-extension`) for this machine's architecture or the one
//!   named (another one with cargo-zigbuild, once its standard library is installed); prints
//!   both sizes.
//! - `package [ARGS]`: `cargo publish --workspace --dry-run`: every publishable crate packaged
//!   and built in dependency order, in `target/package-verify` (removed afterwards).
//! - `doc`: the API docs as docs.rs builds them (all features, `--cfg docsrs`, warnings denied).
//! - `help` (or `--help`, `-h`, nothing): every command, what it does and how long it takes.
//! - `fault-matrix`: the fault matrix's tests (`lambda-cache/tests/fault_matrix.rs`), each
//!   writing what its user got; their tables replace those in RELIABILITY.md.
//! - `load`: the extension's release binary under load and abuse (100,000 requests over 64
//!   connections with backend faults, then idle, slow and oversized clients), loopback only.
//! - `fleet [OPTIONS]`: the fleet simulation (`xtask/fleet`): thousands of environments' caches
//!   against a throttling backend, on simulated time; writes FLEET.md's table and
//!   `xtask/fleet/fleet.{json,svg}`.

use std::env;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

mod bench;
mod deploy;
mod emulator;
mod fault_matrix;
mod redis;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("demo") => demo(),
        Some("emulator") => emulator_only(),
        Some("features") => features(),
        Some("bench") => bench::bench(),
        Some("bench-against") => bench::against(&args[1..]),
        Some("bench-write") => bench::write_runs(&args[1..]),
        Some("bench-boundary") => bench::boundary_runs(&args[1..]),
        Some("size") => bench::size().map(|_| ()),
        Some("layer") => layer(&args[1..]),
        Some("package") => package(&args[1..]),
        Some("doc") => doc(),
        None | Some("help" | "--help" | "-h") => {
            help();
            Ok(())
        }
        Some("fault-matrix") => fault_matrix::write(),
        Some("load") => load(),
        Some("fleet") => fleet(&args[1..]),
        Some(other) => Err(format!(
            "unknown command {other:?}: `cargo xtask help` lists the commands"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Every command: its name and arguments, what it does, and how long it takes on a 2-core
/// machine with a warm target directory (cold: add the build).
const COMMANDS: [(&str, &str); 16] = [
    (
        "test [ARGS]",
        "every test of the workspace against the moto server, redis-server, cfn-lint and the CDK app's npm packages, each installed if missing (5-10 min; 15 cold)",
    ),
    (
        "demo",
        "the demo: a function reading SSM, secrets and S3 through the cache, then the extension read by a Python function (2 min)",
    ),
    (
        "emulator",
        "start the moto server and print the environment to export; Enter stops it",
    ),
    (
        "features",
        "check the facade with each feature alone, and that no feature links another service's SDK (2 min)",
    ),
    (
        "package [ARGS]",
        "cargo publish --dry-run for every publishable crate in dependency order, verified (3-6 min)",
    ),
    (
        "doc",
        "the API docs as docs.rs builds them: all features, --cfg docsrs, rustdoc warnings denied (2-4 min)",
    ),
    (
        "layer [--arch x86_64|arm64]",
        "the extension's stripped release binary and its layer zip, for this machine's architecture or the one named (2-4 min)",
    ),
    (
        "bench",
        "every benchmark, backend call count and binary size; writes target/bench-report.json (30-40 min)",
    ),
    (
        "bench-against REV [RUNS]",
        "the hit benchmark of commit REV and of the working tree, alternately (10 min)",
    ),
    (
        "bench-write [RUNS]",
        "the write benchmark at 1,000 to 100,000 keys beside moka, RUNS times (10 min)",
    ),
    (
        "bench-boundary [RUNS]",
        "read latency across a TTL boundary, with and without refresh ahead (5 min)",
    ),
    ("size", "the binary sizes alone (5 min)"),
    (
        "fault-matrix",
        "the fault matrix's tests; their tables go into RELIABILITY.md (3 min)",
    ),
    (
        "load",
        "the extension's release binary under load and abuse, loopback only (3 min)",
    ),
    (
        "fleet [OPTIONS]",
        "the fleet simulation on simulated time; writes FLEET.md's table (20 s)",
    ),
    ("help", "this list (also --help, -h, or no command)"),
];

#[allow(clippy::print_stdout)] // the command's output
fn help() {
    println!("cargo xtask <command>: lambda-cache's project automation\n");
    for (command, what) in COMMANDS {
        println!("  {command:<28} {what}");
    }
}

/// `cargo publish --dry-run` of every publishable crate, in dependency order, each packaged
/// and built as crates.io would (unpublished path dependencies from the packages before it).
///
/// The verification builds resolve each package's features on its own, so they share little
/// with the workspace's builds: they go to a target directory of their own, without debug info,
/// which is removed afterwards (whether they pass or not), so that a CI run's disk holds one
/// full build at a time.
fn package(extra: &[String]) -> Result<(), String> {
    let dir = root().join("target/package-verify");
    let mut cmd = cargo();
    cmd.args(["publish", "--workspace", "--dry-run", "--quiet"])
        .args(extra)
        .env("CARGO_TARGET_DIR", &dir)
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0");
    eprintln!("xtask: packaging every publishable crate (cargo publish --workspace --dry-run)");
    forget_unpacked_packages();
    let result = run(cmd);
    forget_unpacked_packages();
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("xtask: could not remove {}: {e}", dir.display());
    }
    result
}

/// Cargo unpacks the crates of `publish --workspace`'s temporary registry into
/// `$CARGO_HOME/registry/src/-<hash of the registry's path>/` and reuses a crate unpacked
/// there, by name and version, on the next run: a second run from the same directory would
/// verify against the first run's sources (seen: a new method "not found"). Our crates are
/// removed from every such directory (temporary registries have no name, hence the `-`).
fn forget_unpacked_packages() {
    let home = env::var_os("CARGO_HOME").map_or_else(
        || {
            env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".cargo")
        },
        PathBuf::from,
    );
    let Ok(registries) = std::fs::read_dir(home.join("registry/src")) else {
        return;
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for unpacked in crates.flatten() {
            if unpacked
                .file_name()
                .to_string_lossy()
                .starts_with("lambda-cache")
            {
                let _ = std::fs::remove_dir_all(unpacked.path());
            }
        }
    }
}

/// The API docs as docs.rs builds them: every feature, `--cfg docsrs` (its `doc(cfg)` badges,
/// a nightly feature: `RUSTC_BOOTSTRAP` lets the stable toolchain build them as docs.rs's
/// nightly does), rustdoc's warnings (broken links, missing docs) denied.
fn doc() -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "doc",
        "--workspace",
        "--all-features",
        "--no-deps",
        "--quiet",
    ]);
    for unpublished in UNPUBLISHED {
        cmd.args(["--exclude", unpublished]);
    }
    cmd.env("RUSTDOCFLAGS", "--cfg docsrs -D warnings")
        .env("RUSTC_BOOTSTRAP", "1");
    eprintln!("xtask: documenting every published crate as docs.rs would");
    run(cmd)?;
    eprintln!("xtask: docs in {}", root().join("target/doc").display());
    Ok(())
}

/// Members that are never published: automation, fixtures and examples.
const UNPUBLISHED: [&str; 12] = [
    "xtask",
    "lambda-cache-testkit",
    "lambda-cache-bench",
    "lambda-cache-fleet",
    "bench-floor",
    "size-with-lambda-cache",
    "size-bare-sdk",
    "ssm-parameter",
    "config-and-secret",
    "s3-model",
    "generic-loader",
    "shared-tier",
];

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A cargo command at the workspace root, without the variables `cargo run` set for xtask
/// itself: build scripts that watch them (ring's does) would otherwise rebuild everything
/// built from a shell, and the other way round.
fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*key,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(&*key);
        }
    }
    cmd
}

fn run(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed: {status}"))
    }
}

fn test(extra: &[String]) -> Result<(), String> {
    test_with(extra, &[])
}

/// `cargo xtask test` with `extra` arguments and environment variables.
fn test_with(extra: &[String], vars: &[(&str, &std::ffi::OsStr)]) -> Result<(), String> {
    let moto = emulator::Emulator::start()?;
    let redis_server = redis::server()?;
    let deploy_tools = deploy::tools()?;
    let mut cmd = cargo();
    cmd.envs(vars.iter().copied());
    cmd.env(redis::VARIABLE, &redis_server);
    for (name, path) in &deploy_tools {
        cmd.env(name, path);
    }
    cmd.args([
        "test",
        "--workspace",
        "--all-features",
        // Benchmarks and size fixtures have no tests; `cargo xtask bench` builds them.
        "--exclude",
        "lambda-cache-bench",
        "--exclude",
        "size-with-lambda-cache",
        "--exclude",
        "size-bare-sdk",
    ])
    .args(extra)
    .stdout(Stdio::piped());
    moto.export_to(&mut cmd);
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let mut totals = Totals::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| e.to_string())?;
            totals.add(&line);
            #[allow(clippy::print_stdout)] // the test runner's own output, passed through
            {
                println!("{line}");
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "\nall test binaries: {} passed, {} failed",
            totals.passed, totals.failed
        );
    }
    if !status.success() {
        return Err(format!("{shown} failed: {status}"));
    }
    if totals.passed == 0 {
        return Err("no test ran".into());
    }
    Ok(())
}

/// Sums the `test result:` lines of every test binary.
#[derive(Default)]
struct Totals {
    passed: u64,
    failed: u64,
}

impl Totals {
    fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                _ => {}
            }
        }
    }
}

fn demo() -> Result<(), String> {
    let moto = emulator::Emulator::start()?;
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--quiet",
        "--package",
        "lambda-cache",
        "--features",
        "full",
        "--example",
        "demo",
    ]);
    moto.export_to(&mut cmd);
    run(cmd)?;

    // The extension: the built binary under a mock Extensions API, read by a Python function.
    #[allow(clippy::print_stdout)]
    {
        println!(
            "\n== lambda-cache-extension, read by a Python function (standard library only)\n"
        );
    }
    let mut build = cargo();
    build.args([
        "build",
        "--quiet",
        "--package",
        "lambda-cache-extension",
        "--bin",
        "lambda-cache-extension",
        "--example",
        "demo",
    ]);
    run(build)?;
    extension_example(
        "demo",
        &root().join("target/debug/lambda-cache-extension"),
        &moto,
    )
}

/// Runs the extension's example `name` against `binary` and the emulator.
fn extension_example(name: &str, binary: &Path, moto: &emulator::Emulator) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--quiet",
        "--package",
        "lambda-cache-extension",
        "--example",
        name,
    ])
    .env("LAMBDA_CACHE_EXTENSION_BIN", binary);
    moto.export_to(&mut cmd);
    run(cmd)
}

/// The fleet simulation (`xtask/fleet`), in release: prints its table, writes FLEET.md's table
/// and `xtask/fleet/fleet.{json,svg}`. `args` go to it (`--envs`, `--keys`, `--max-age`,
/// `--tps`, `--seed`, `--out`, `--no-write`).
fn fleet(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "lambda-cache-fleet",
        "--",
    ])
    .args(args);
    run(cmd)
}

/// The extension under load and abuse: `examples/load.rs` against the release binary and moto.
fn load() -> Result<(), String> {
    let moto = emulator::Emulator::start()?;
    let binary = build_extension()?;
    extension_example("load", &binary, &moto)
}

/// The layer: `target/layer/lambda-cache-extension.zip` holding
/// `extensions/lambda-cache-extension`, built in release for this machine's target and stripped.
/// Builds the extension as `cargo xtask layer` ships it (release, stripped) and returns the binary.
fn build_extension() -> Result<PathBuf, String> {
    let mut cmd = cargo();
    cmd.args([
        "rustc",
        "--quiet",
        "--release",
        "--package",
        "lambda-cache-extension",
        "--bin",
        "lambda-cache-extension",
        "--",
        "-C",
        "strip=symbols",
    ]);
    eprintln!("xtask: building the extension (release, stripped)");
    run(cmd)?;
    Ok(root().join("target/release/lambda-cache-extension"))
}

/// A Lambda architecture and the Rust target that builds for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "x86_64" | "x86-64" | "amd64" => Ok(Self::X86_64),
            "arm64" | "aarch64" => Ok(Self::Arm64),
            other => Err(format!(
                "--arch {other:?}: give x86_64 or arm64 (Lambda's two architectures)"
            )),
        }
    }

    /// This machine's, if Lambda has it.
    fn host() -> Option<Self> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Self::X86_64),
            "aarch64" => Some(Self::Arm64),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }

    fn target(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64-unknown-linux-gnu",
            Self::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// What building for `arch` from this machine takes, given the installed targets: the host
/// build, or a cross build with cargo-zigbuild; an error saying what to install when the
/// target's standard library is missing.
fn cross_plan(arch: Arch, host: Option<Arch>, installed: &[&str]) -> Result<bool, String> {
    if host == Some(arch) {
        return Ok(false);
    }
    if installed.contains(&arch.target()) {
        return Ok(true);
    }
    Err(format!(
        "the {} standard library is not installed: run `rustup target add {}`, then `cargo xtask layer --arch {}` again (it installs cargo-zigbuild and zig from PyPI to link for Amazon Linux)",
        arch.name(),
        arch.target(),
        arch.name()
    ))
}

/// The targets rustup has installed.
fn installed_targets() -> Vec<String> {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The extension for `arch` with cargo-zigbuild (installed from PyPI into `target/zig-venv`
/// if missing), stripped; glibc 2.17 or later, as every Lambda runtime has.
fn cross_build_extension(arch: Arch) -> Result<PathBuf, String> {
    let venv = root().join("target/zig-venv");
    let zigbuild = venv.join("bin/cargo-zigbuild");
    if !zigbuild.exists() {
        eprintln!(
            "xtask: installing cargo-zigbuild and zig (PyPI) to link for {}",
            arch.name()
        );
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(&venv);
        run(create)?;
        let mut install = Command::new(venv.join("bin/pip"));
        install.args(["install", "--quiet", "cargo-zigbuild", "ziglang"]);
        run(install)?;
    }
    let mut cmd = cargo();
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.args([
        "zigbuild",
        "--quiet",
        "--release",
        "--package",
        "lambda-cache-extension",
        "--bin",
        "lambda-cache-extension",
        "--target",
    ])
    .arg(format!("{}.2.17", arch.target()))
    .env("PATH", path)
    .env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    eprintln!(
        "xtask: building the extension for {} with cargo-zigbuild",
        arch.name()
    );
    run(cmd)?;
    Ok(root()
        .join("target")
        .join(arch.target())
        .join("release/lambda-cache-extension"))
}

/// The layer's binary and zip, and their sizes in bytes.
pub(crate) struct Layer {
    pub(crate) binary: PathBuf,
    pub(crate) binary_bytes: u64,
    pub(crate) zip: PathBuf,
    pub(crate) zip_bytes: u64,
}

/// Builds the extension for this machine and packs `target/layer/lambda-cache-extension.zip`
/// holding `extensions/lambda-cache-extension`.
pub(crate) fn build_layer() -> Result<Layer, String> {
    pack_layer(&build_extension()?, None)
}

/// Packs `binary` into `target/layer/lambda-cache-extension.zip` (the templates' path) and,
/// for a named architecture, a copy `lambda-cache-extension-<arch>.zip`.
fn pack_layer(binary: &Path, arch: Option<Arch>) -> Result<Layer, String> {
    let dir = root().join("target/layer");
    let zip = dir.join("lambda-cache-extension.zip");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Python's zipfile (CI has Python 3), keeping the executable bit Lambda needs.
    let script = "import sys, zipfile\n\
        info = zipfile.ZipInfo('extensions/lambda-cache-extension', (2020, 1, 1, 0, 0, 0))\n\
        info.external_attr = 0o100755 << 16\n\
        info.compress_type = zipfile.ZIP_DEFLATED\n\
        with zipfile.ZipFile(sys.argv[2], 'w') as z, open(sys.argv[1], 'rb') as f:\n\
        \x20   z.writestr(info, f.read(), compresslevel=9)\n";
    let mut python = Command::new("python3");
    python.args(["-c", script]).arg(binary).arg(&zip);
    run(python)?;
    if let Some(arch) = arch {
        let named = dir.join(format!("lambda-cache-extension-{}.zip", arch.name()));
        std::fs::copy(&zip, &named).map_err(|e| format!("{}: {e}", named.display()))?;
    }
    let size = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    Ok(Layer {
        binary_bytes: size(binary)?,
        zip_bytes: size(&zip)?,
        binary: binary.to_owned(),
        zip,
    })
}

fn layer(args: &[String]) -> Result<(), String> {
    let arch = match args {
        [] => None,
        [flag, arch] if flag == "--arch" => Some(Arch::parse(arch)?),
        other => return Err(format!("layer takes [--arch x86_64|arm64], got {other:?}")),
    };
    let host = Arch::host();
    let binary = match arch {
        None => build_extension()?,
        Some(arch) => {
            let installed = installed_targets();
            let installed: Vec<&str> = installed.iter().map(String::as_str).collect();
            if cross_plan(arch, host, &installed)? {
                cross_build_extension(arch)?
            } else {
                build_extension()?
            }
        }
    };
    let layer = pack_layer(&binary, arch.or(host))?;
    #[allow(clippy::print_stdout)] // the command's result
    {
        println!(
            "binary {}: {} bytes\nlayer  {}: {} bytes (extensions/lambda-cache-extension, {})",
            layer.binary.display(),
            layer.binary_bytes,
            layer.zip.display(),
            layer.zip_bytes,
            arch.or(host)
                .map_or("this machine's architecture", Arch::name)
        );
    }
    Ok(())
}

fn emulator_only() -> Result<(), String> {
    let moto = emulator::Emulator::start()?;
    let mut out = String::new();
    for (key, value) in moto.environment() {
        out.push_str(&format!("export {key}={value}\n"));
    }
    #[allow(clippy::print_stdout)] // this command's whole purpose is to print the environment
    {
        println!(
            "moto server running at {}\n\n{out}\nPress Enter to stop.",
            moto.endpoint()
        );
    }
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    Ok(())
}

fn features() -> Result<(), String> {
    for feature in [
        "",
        "ssm",
        "secrets",
        "s3",
        "dynamodb",
        "appconfig",
        "redis",
        "lambda-runtime",
        "full",
    ] {
        let mut cmd = cargo();
        cmd.args([
            "check",
            "--package",
            "lambda-cache",
            "--no-default-features",
        ]);
        if !feature.is_empty() {
            cmd.args(["--features", feature]);
        }
        eprintln!("xtask: checking lambda-cache with features [{feature}]");
        run(cmd)?;
        if !["redis", "full"].contains(&feature) {
            no_redis_client(feature)?;
        }
        if let Some((_, own)) = SERVICE_SDKS.iter().find(|(f, _)| *f == feature) {
            links_only_sdk(
                &[
                    "--package",
                    "lambda-cache",
                    "--no-default-features",
                    "--features",
                    feature,
                ],
                Some(own),
            )?;
        }
    }
    links_only_sdk(
        &["--package", "lambda-cache", "--no-default-features"],
        None,
    )?;
    Ok(())
}

/// Fails if the facade with `feature` alone compiles the Redis client: only the shared tier's
/// feature may.
fn no_redis_client(feature: &str) -> Result<(), String> {
    let mut tree = cargo();
    tree.args(["tree", "--edges", "normal", "--prefix", "none"])
        .args(["--package", "lambda-cache", "--no-default-features"]);
    if !feature.is_empty() {
        tree.args(["--features", feature]);
    }
    let crates = bench::output(tree)?;
    if crates
        .lines()
        .any(|line| line.split(' ').next() == Some("redis"))
    {
        return Err(format!(
            "lambda-cache with [{feature}] compiles the redis crate"
        ));
    }
    Ok(())
}

/// Each service feature and the one AWS service SDK it may link.
const SERVICE_SDKS: [(&str, &str); 5] = [
    ("ssm", "aws-sdk-ssm"),
    ("secrets", "aws-sdk-secretsmanager"),
    ("s3", "aws-sdk-s3"),
    ("dynamodb", "aws-sdk-dynamodb"),
    ("appconfig", "aws-sdk-appconfigdata"),
];

/// Fails unless the normal dependency tree selected by `selection` (cargo tree arguments)
/// holds no service SDK other than `own`: a function that enables one service compiles no other.
pub(crate) fn links_only_sdk(selection: &[&str], own: Option<&str>) -> Result<(), String> {
    let mut tree = cargo();
    tree.args(["tree", "--edges", "normal", "--prefix", "none"])
        .args(selection);
    let crates = bench::output(tree)?;
    for (_, sdk) in SERVICE_SDKS {
        let linked = crates
            .lines()
            .any(|line| line.split(' ').next() == Some(sdk));
        if linked && Some(sdk) != own {
            return Err(format!(
                "{} links {sdk}: features leak",
                selection.join(" ")
            ));
        }
    }
    eprintln!(
        "xtask: {} links {}",
        selection.join(" "),
        own.map_or("no service SDK".to_owned(), |own| format!(
            "{own} and no other service SDK"
        ))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_for_another_architecture_needs_its_standard_library() {
        let host = Some(Arch::X86_64);
        assert_eq!(cross_plan(Arch::X86_64, host, &[]), Ok(false));
        assert_eq!(
            cross_plan(Arch::Arm64, host, &["aarch64-unknown-linux-gnu"]),
            Ok(true)
        );
        let err = cross_plan(Arch::Arm64, host, &["x86_64-unknown-linux-gnu"]).unwrap_err();
        assert!(
            err.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{err}"
        );
        assert!(
            Arch::parse("sparc")
                .unwrap_err()
                .contains("x86_64 or arm64")
        );
        assert_eq!(Arch::parse("aarch64"), Ok(Arch::Arm64));
    }

    #[test]
    fn help_lists_every_command_the_dispatch_knows() {
        let source = include_str!("main.rs");
        for (command, what) in COMMANDS {
            let name = command.split(' ').next().unwrap_or_default();
            assert!(
                source.contains(&format!("Some(\"{name}\"")) || name == "help",
                "{name} is listed but not dispatched"
            );
            assert!(!what.is_empty());
        }
    }
}
