//! The floor of one loopback HTTP hop, for `cargo xtask bench`: a bare hyper server that answers
//! every request with the same body, with the runtime, listener and connection settings of
//! `lambda-cache-extension` and nothing else (no routing, no token, no cache).
//!
//! Usage: `bench-floor PORT BODY_FILE`. Prints `ready` on stdout once it listens on
//! 127.0.0.1:PORT, and serves until killed.

use std::convert::Infallible;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, body_file] = args.as_slice() else {
        eprintln!("usage: bench-floor PORT BODY_FILE");
        return ExitCode::FAILURE;
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("bench-floor: PORT must be a port number, got {port:?}");
        return ExitCode::FAILURE;
    };
    let body = match std::fs::read(body_file) {
        Ok(body) => Bytes::from(body),
        Err(e) => {
            eprintln!("bench-floor: cannot read {body_file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench-floor: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(port, body)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-floor: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)] // the readiness line the benchmark waits for
async fn serve(port: u16, body: Bytes) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("ready");
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let response = Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()))
                    .unwrap_or_default();
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(16 * 1024)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
