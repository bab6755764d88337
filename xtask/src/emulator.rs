//! The local AWS emulator: the moto server on a free loopback port, installed on demand.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::root;

/// How long the server may take to accept connections after it starts.
const START_ATTEMPTS: u32 = 600;
const START_POLL: Duration = Duration::from_millis(100);

/// A running moto server, stopped when dropped.
pub(crate) struct Emulator {
    child: Child,
    endpoint: String,
    /// How to run the Python that has moto, and so boto3 (the SDK tests' Python client).
    moto: Moto,
}

impl Emulator {
    /// Starts the moto server on a free loopback port, installing it first if needed. Fails
    /// loudly if it cannot start: no test is ever skipped for want of it.
    pub(crate) fn start() -> Result<Self, String> {
        let moto = moto_server()?;
        let port = free_port()?;
        let log_path = root().join("target").join("moto-server.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let child = moto
            .command()
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start the moto server: {e}"))?;
        let mut emulator = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            moto: moto.clone(),
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..START_ATTEMPTS {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                return Err(format!(
                    "the moto server exited at start ({status}); see {}",
                    log_path.display()
                ));
            }
            if TcpStream::connect_timeout(&address, START_POLL).is_ok() {
                eprintln!(
                    "xtask: moto server {} listening at {}",
                    moto.version(),
                    emulator.endpoint
                );
                return Ok(emulator);
            }
            thread::sleep(START_POLL);
        }
        Err(format!(
            "the moto server did not listen on {address} within a minute; see {}",
            log_path.display()
        ))
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The environment that points the AWS SDK (and our tests) at the emulator.
    pub(crate) fn environment(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("LAMBDA_CACHE_TEST_ENDPOINT", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ];
        // The Python with boto3 (installed with moto), for tests whose client is boto3.
        match &self.moto {
            Moto::Program(program) => vars.push((
                "LAMBDA_CACHE_TEST_PYTHON",
                program.with_file_name("python").display().to_string(),
            )),
            Moto::Module { python, packages } => {
                vars.push(("LAMBDA_CACHE_TEST_PYTHON", python.clone()));
                vars.push((
                    "LAMBDA_CACHE_TEST_PYTHONPATH",
                    packages.display().to_string(),
                ));
            }
        }
        vars
    }

    pub(crate) fn export_to(&self, cmd: &mut Command) {
        cmd.env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        for (key, value) in self.environment() {
            cmd.env(key, value);
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The oldest moto accepted, installed here or found on the machine. Releases before 5.2.5 do
/// not read SSM parameters by ARN.
const MIN_VERSION: (u32, u32, u32) = (5, 2, 5);

/// What `pip` installs: MIN_VERSION or later, below 6.
fn requirement() -> String {
    let (major, minor, patch) = MIN_VERSION;
    format!("moto[server]>={major}.{minor}.{patch},<{}", major + 1)
}

/// How to start the moto server.
#[derive(Clone)]
enum Moto {
    /// The `moto_server` script of our virtual environment.
    Program(PathBuf),
    /// `python -m moto.server` with moto installed into a plain directory (for a Python whose
    /// `venv` module is missing, as in Debian without python3-venv).
    Module { python: String, packages: PathBuf },
}

impl Moto {
    fn command(&self) -> Command {
        match self {
            Self::Program(program) => Command::new(program),
            Self::Module { .. } => {
                let mut cmd = self.python();
                cmd.args(["-m", "moto.server"]);
                cmd
            }
        }
    }

    /// The Python that sees this moto.
    fn python(&self) -> Command {
        match self {
            Self::Program(program) => Command::new(program.with_file_name("python")),
            Self::Module { python, packages } => {
                let mut cmd = Command::new(python);
                cmd.env("PYTHONPATH", packages);
                cmd
            }
        }
    }

    /// The installed moto's version, for the log: emulators differ between releases.
    fn version(&self) -> String {
        self.python()
            .args(["-c", "import moto; print(moto.__version__)"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map_or_else(|| "(version unknown)".into(), |v| v.trim().to_owned())
    }

    /// True if it starts and is recent enough. A `python -m moto.server` can also find a moto
    /// installed on the machine outside target/, which may be older.
    fn works(&self) -> bool {
        self.starts() && parse_version(&self.version()).is_some_and(|v| v >= MIN_VERSION)
    }

    /// True if it starts, whatever its version.
    fn starts(&self) -> bool {
        self.command()
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// `5.2.5` (or `5.2.5.dev3`) as numbers; None if it does not read as a version.
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// The moto server: ours under target/, installed there with pip if missing (into a virtual
/// environment, or a plain directory where `venv` is unavailable).
fn moto_server() -> Result<Moto, String> {
    let target = root().join("target");
    let venv = target.join("moto-venv");
    let packages = target.join("moto-packages");
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok())
        .ok_or("Python 3 is needed for the moto server and was not found")?
        .to_owned();
    let in_venv = Moto::Program(venv.join("bin").join("moto_server"));
    let in_packages = Moto::Module {
        python: python.clone(),
        packages: packages.clone(),
    };
    if let Some(installed) = [&in_venv, &in_packages].into_iter().find(|m| m.works()) {
        return Ok(installed.clone());
    }
    eprintln!(
        "xtask: installing the moto server under {} (once)",
        target.display()
    );
    match install(&python, &venv, &packages, &in_venv) {
        Ok(()) => [in_venv, in_packages]
            .into_iter()
            .find(Moto::works)
            .ok_or_else(|| "the moto server does not run after installing moto[server]".into()),
        // Without the package index, an older moto on the machine still runs every test
        // (none depends on a 5.2.5 behaviour); say so rather than fail.
        Err(err) if in_packages.starts() => {
            eprintln!(
                "xtask: {err}; using the machine's moto {} instead",
                in_packages.version()
            );
            Ok(in_packages)
        }
        Err(err) => Err(err),
    }
}

/// Installs moto into the virtual environment `venv`, or into the plain directory `packages`
/// where `venv` is unavailable (`in_venv` does not run after it).
fn install(python: &str, venv: &Path, packages: &Path, in_venv: &Moto) -> Result<(), String> {
    let venv_made = Command::new(python)
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .is_ok_and(|s| s.success());
    if venv_made {
        check(
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(requirement()),
            "install moto[server] into the virtual environment",
        )?;
        if in_venv.works() {
            return Ok(());
        }
    }
    eprintln!(
        "xtask: no usable virtual environment; installing moto into {}",
        packages.display()
    );
    check(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(packages)
            .arg(requirement()),
        "install moto[server] with pip",
    )
}

fn check(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("cannot {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("could not {what}: {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_numbers_and_compare() {
        assert_eq!(parse_version("5.2.5"), Some((5, 2, 5)));
        assert_eq!(parse_version("5.2.6.dev3\n".trim()), Some((5, 2, 6)));
        assert_eq!(parse_version("(version unknown)"), None);
        assert_eq!(parse_version("5.2"), None);
        assert!(parse_version("5.2.1").is_some_and(|v| v < MIN_VERSION));
        assert!(parse_version("5.10.0").is_some_and(|v| v >= MIN_VERSION));
    }

    #[test]
    fn pip_is_asked_for_the_minimum_version_up_to_the_next_major() {
        assert_eq!(requirement(), "moto[server]>=5.2.5,<6");
    }
}
