//! The Extensions API: register, report an init error, wait for the next event.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What `event/next` handed out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Invoke,
    Shutdown,
}

/// A client of the Extensions API at `AWS_LAMBDA_RUNTIME_API` (`host:port`).
pub(crate) struct ExtensionsApi {
    address: String,
    id: String,
    /// The function's account, which Lambda gives an extension that asks for it.
    account: Option<String>,
}

const BASE: &str = "/2020-01-01/extension";

/// One request on its own connection (the API is on loopback; calls are few).
async fn call(
    address: &str,
    request: Request<Full<Bytes>>,
) -> Result<(u16, hyper::HeaderMap, Bytes), String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{address}: {e}"))?;
    tokio::spawn(connection);
    let path = request.uri().path().to_owned();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{path}: {e}"))?
        .to_bytes();
    Ok((status, headers, body))
}

fn request(address: &str, method: &str, path: &str) -> hyper::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(format!("{BASE}{path}"))
        .header("host", address)
}

impl ExtensionsApi {
    /// Registers for INVOKE and SHUTDOWN under `name` (the binary's file name).
    pub(crate) async fn register(address: &str, name: &str) -> Result<Self, String> {
        let body = Bytes::from_static(br#"{"events":["INVOKE","SHUTDOWN"]}"#);
        let request = request(address, "POST", "/register")
            .header("lambda-extension-name", name)
            // The account then comes in the answer (for the shared tier's key prefix).
            .header("lambda-extension-accept-feature", "accountId")
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let (status, headers, body) = call(address, request).await?;
        if status != 200 {
            return Err(format!(
                "register answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let id = headers
            .get("lambda-extension-identifier")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or("register gave no Lambda-Extension-Identifier")?;
        let account = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|answer| answer["accountId"].as_str().map(str::to_owned))
            .filter(|account| !account.is_empty());
        Ok(Self {
            address: address.to_owned(),
            id: id.to_owned(),
            account,
        })
    }

    /// The function's account, if Lambda gave it.
    pub(crate) fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// Reports why the extension cannot start; Lambda then fails the INIT phase.
    pub(crate) async fn init_error(&self, error_type: &str, message: &str) -> Result<(), String> {
        let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
        let request = request(&self.address, "POST", "/init/error")
            .header("lambda-extension-identifier", &self.id)
            .header("lambda-extension-function-error-type", error_type)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let (status, _, _) = call(&self.address, request).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("init/error answered {status}"))
        }
    }

    /// Waits for the next event (a long poll: Lambda answers when there is one).
    pub(crate) async fn next(&self) -> Result<Event, String> {
        let request = request(&self.address, "GET", "/event/next")
            .header("lambda-extension-identifier", &self.id)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let (status, _, body) = call(&self.address, request).await?;
        if status != 200 {
            return Err(format!("event/next answered {status}"));
        }
        let event: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("event/next: {e}"))?;
        match event.get("eventType").and_then(|t| t.as_str()) {
            Some("SHUTDOWN") => Ok(Event::Shutdown),
            Some("INVOKE") => Ok(Event::Invoke),
            other => Err(format!("event/next: unknown eventType {other:?}")),
        }
    }
}
