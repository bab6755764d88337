//! The extension's process: everything is in the library.

fn main() -> std::process::ExitCode {
    lambda_cache_extension::main()
}
