//! [`FaultProxy`]: a loopback HTTP proxy in front of a real backend (the moto server, or
//! [`FakeAppConfig`](crate::FakeAppConfig)) that forwards requests until a [`Fault`] is
//! injected, and then answers with that fault instead. Every connection carries one request
//! (`Connection: close`), so that no pooled connection outlives a fault.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{content_length, head_len};

/// What a failing backend does, one kind per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling answer (`ThrottlingException`; S3's `503 SlowDown`).
    Throttle,
    /// `500` with the service's internal error.
    ServerError,
    /// `503 ServiceUnavailable`.
    Unavailable,
    /// The request is read and never answered.
    Timeout,
    /// Nothing listens: every connection is refused.
    Refused,
    /// The backend's real answer, its body cut in the middle by a TCP reset.
    ResetMidBody,
    /// A body the client cannot parse: `200` with broken JSON; for S3, whose `200` body is
    /// the object itself, a `500` whose XML is broken.
    Malformed,
    /// `200` with an HTML page (`text/html`), as a proxy or a captive portal sends.
    WrongContentType,
}

impl Fault {
    /// Every fault, in the order of the reliability tables.
    pub const ALL: [Self; 8] = [
        Self::Throttle,
        Self::ServerError,
        Self::Unavailable,
        Self::Timeout,
        Self::Refused,
        Self::ResetMidBody,
        Self::Malformed,
        Self::WrongContentType,
    ];

    /// The fault as the reliability tables name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Throttle => "throttled",
            Self::ServerError => "500",
            Self::Unavailable => "503",
            Self::Timeout => "no answer (timeout)",
            Self::Refused => "connection refused",
            Self::ResetMidBody => "reset mid-body",
            Self::Malformed => "malformed body",
            Self::WrongContentType => "HTML instead (wrong content type)",
        }
    }
}

/// How a service's errors are written on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `x-amz-json-1.0/1.1` with `__type` (SSM, Secrets Manager, DynamoDB).
    AwsJson,
    /// REST with XML errors (S3).
    RestXml,
    /// REST with JSON errors named by `x-amzn-ErrorType` (AppConfigData).
    RestJson,
}

impl Dialect {
    fn error(self, status: u16, code: &str, message: &str) -> Vec<u8> {
        match self {
            Self::AwsJson => response(
                status,
                &[("content-type", "application/x-amz-json-1.1")],
                format!(r#"{{"__type":"{code}","message":"{message}"}}"#).as_bytes(),
            ),
            Self::RestXml => response(
                status,
                &[("content-type", "application/xml")],
                format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>")
                    .as_bytes(),
            ),
            Self::RestJson => response(
                status,
                &[
                    ("content-type", "application/json"),
                    ("x-amzn-errortype", code),
                ],
                format!(r#"{{"Message":"{message}"}}"#).as_bytes(),
            ),
        }
    }

    /// The canned answer of a fault that does not involve the backend; `None` for the
    /// faults the proxy acts out (no answer, refused, reset mid-body).
    fn answer(self, fault: Fault) -> Option<Vec<u8>> {
        Some(match (fault, self) {
            (Fault::Throttle, Self::RestXml) => {
                self.error(503, "SlowDown", "Please reduce your request rate.")
            }
            (Fault::Throttle, Self::RestJson) => {
                self.error(429, "ThrottlingException", "Rate exceeded")
            }
            (Fault::Throttle, Self::AwsJson) => {
                self.error(400, "ThrottlingException", "Rate exceeded")
            }
            (Fault::ServerError, Self::RestXml) => self.error(500, "InternalError", "boom"),
            (Fault::ServerError, Self::RestJson) => {
                self.error(500, "InternalServerException", "boom")
            }
            (Fault::ServerError, Self::AwsJson) => self.error(500, "InternalServerError", "boom"),
            (Fault::Unavailable, _) => self.error(503, "ServiceUnavailable", "unavailable"),
            (Fault::Malformed, Self::RestXml) => response(
                500,
                &[("content-type", "application/xml")],
                b"<Error><Code>Internal",
            ),
            (Fault::Malformed, Self::AwsJson) => response(
                200,
                &[("content-type", "application/x-amz-json-1.1")],
                br#"{"Parameters": [ {"Name": "#,
            ),
            (Fault::Malformed, Self::RestJson) => response(
                200,
                &[("content-type", "application/json")],
                br#"{"InitialConfigurationToken": "#,
            ),
            (Fault::WrongContentType, _) => response(
                200,
                &[("content-type", "text/html")],
                b"<html><body><h1>Please log in to continue</h1></body></html>",
            ),
            (Fault::Timeout | Fault::Refused | Fault::ResetMidBody, _) => return None,
        })
    }
}

fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("HTTP/1.1 {status} Fault\r\n").into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    bytes.extend_from_slice(body);
    bytes
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    dialect: Dialect,
    fault: Mutex<Option<Fault>>,
    requests: AtomicUsize,
}

/// A loopback proxy that forwards to a backend until told to fail, and counts the requests that
/// reach it (a refused connection is not a request).
///
/// ```no_run
/// # async fn example() {
/// use lambda_cache_testkit::{Dialect, Fault, FaultProxy, moto_endpoint};
/// let proxy = FaultProxy::start(&moto_endpoint(), Dialect::AwsJson).await;
/// proxy.inject(Fault::Throttle).await;
/// // ... a read through proxy.endpoint() is throttled ...
/// proxy.clear().await;
/// # }
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FaultProxy {
    /// Listens on a free loopback port, forwarding to `upstream` (`http://host:port`) and
    /// writing faults in `dialect`.
    ///
    /// # Panics
    /// If no loopback port can be had.
    pub async fn start(upstream: &str, dialect: Dialect) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("bound");
        let shared = Arc::new(Shared {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            dialect,
            fault: Mutex::new(None),
            requests: AtomicUsize::new(0),
        });
        let proxy = Self {
            address,
            shared,
            accept: Mutex::new(None),
        };
        proxy.listen(listener);
        proxy
    }

    /// The endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Requests that reached the proxy so far, answered or failed.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// From now on every request gets `fault`. [`Fault::Refused`] closes the listening socket.
    pub async fn inject(&self, fault: Fault) {
        *self.shared.fault.lock() = Some(fault);
        let listening = if fault == Fault::Refused {
            self.accept.lock().take()
        } else {
            None
        };
        if let Some(task) = listening {
            task.abort();
            let _ = task.await;
        }
    }

    /// The fault clears: requests are forwarded again, on the same port.
    ///
    /// # Panics
    /// If the port cannot be bound again.
    pub async fn clear(&self) {
        *self.shared.fault.lock() = None;
        if self.accept.lock().is_none() {
            let listener = TcpListener::bind(self.address)
                .await
                .expect("the proxy's port, bound again");
            self.listen(listener);
        }
    }

    fn listen(&self, listener: TcpListener) {
        let shared = Arc::clone(&self.shared);
        *self.accept.lock() = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, Arc::clone(&shared)));
            }
        }));
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().take() {
            task.abort();
        }
    }
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>) {
    let Some(request) = read_request(&mut client).await else {
        return;
    };
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let fault = *shared.fault.lock();
    match fault {
        None => {
            if let Some(answer) = forward(&shared.upstream, &request).await {
                let _ = client.write_all(&answer).await;
            }
            let _ = client.shutdown().await;
        }
        Some(Fault::Timeout) => {
            // Hold the request until the client gives up (or a minute passes).
            let mut rest = [0_u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs(60), client.read(&mut rest)).await;
        }
        Some(Fault::ResetMidBody) => {
            if let Some(answer) = forward(&shared.upstream, &request).await {
                let head = head_len(&answer).unwrap_or(answer.len());
                let body = answer.len() - head;
                let _ = client.write_all(&answer[..head + body / 2]).await;
                let _ = client.flush().await;
            }
            let _ = client.set_zero_linger();
        }
        Some(fault) => {
            if let Some(answer) = shared.dialect.answer(fault) {
                let _ = client.write_all(&answer).await;
            }
            let _ = client.shutdown().await;
        }
    }
}

/// One request: its head up to the blank line, then `content-length` bytes of body.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut buffer = [0_u8; 16 * 1024];
    let head = loop {
        if let Some(head) = head_len(&request) {
            break head;
        }
        let n = client.read(&mut buffer).await.ok().filter(|n| *n > 0)?;
        request.extend_from_slice(&buffer[..n]);
        if request.len() > 1 << 20 {
            return None;
        }
    };
    let length = content_length(&request[..head]);
    while request.len() < head + length {
        let n = client.read(&mut buffer).await.ok().filter(|n| *n > 0)?;
        request.extend_from_slice(&buffer[..n]);
    }
    Some(request)
}

/// Sends `request` upstream with `Connection: close` and returns the whole answer.
async fn forward(upstream: &str, request: &[u8]) -> Option<Vec<u8>> {
    let head = head_len(request)?;
    let text = String::from_utf8_lossy(&request[..head - 4]);
    let mut rewritten: Vec<u8> = text
        .split("\r\n")
        .filter(|line| {
            !line
                .split_once(':')
                .is_some_and(|(name, _)| name.eq_ignore_ascii_case("connection"))
        })
        .flat_map(|line| [line, "\r\n"])
        .collect::<String>()
        .into_bytes();
    rewritten.extend_from_slice(b"connection: close\r\n\r\n");
    rewritten.extend_from_slice(&request[head..]);
    let mut server = TcpStream::connect(upstream).await.ok()?;
    server.write_all(&rewritten).await.ok()?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await.ok()?;
    Some(answer)
}
