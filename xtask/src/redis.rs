//! The Redis server the shared tier's tests start (each test its own, on a free loopback port):
//! found on the PATH (`redis-server`, or `valkey-server`), else installed from Debian's
//! packages. Its path goes to the tests in `LAMBDA_CACHE_REDIS_SERVER`.

use std::path::PathBuf;
use std::process::Command;

/// The variable the testkit reads (`lambda_cache_testkit::REDIS_SERVER_VARIABLE`).
pub(crate) const VARIABLE: &str = "LAMBDA_CACHE_REDIS_SERVER";

/// The server's binary, installed if missing.
pub(crate) fn server() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(VARIABLE) {
        let path = PathBuf::from(path);
        return if works(&path) {
            Ok(path)
        } else {
            Err(format!("{VARIABLE}={} does not run", path.display()))
        };
    }
    if let Some(found) = on_path() {
        return Ok(found);
    }
    eprintln!("xtask: installing redis-server (Debian's package) for the shared tier's tests");
    let install = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("apt-get: {e}"))
    };
    if !install(&["install", "-y", "--no-install-recommends", "redis-server"])?.success() {
        // A fresh machine may not have the package lists yet.
        install(&["update", "-q"])?;
        install(&["install", "-y", "--no-install-recommends", "redis-server"])?;
    }
    on_path().ok_or_else(|| {
        "redis-server is not installed and apt-get could not install it: install redis-server or \
         valkey-server, or set LAMBDA_CACHE_REDIS_SERVER to its path"
            .to_owned()
    })
}

fn on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["redis-server", "valkey-server"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| works(candidate))
    })
}

/// True if `binary --version` runs.
fn works(binary: &std::path::Path) -> bool {
    Command::new(binary)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}
