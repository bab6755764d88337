//! A download cut in the middle: the previous file stays byte-for-byte intact and no partial
//! file is left behind. A small loopback server answers each connection with the next scripted
//! response, the second one announcing 1000 bytes and closing after 400: a cut no emulator (nor
//! wiremock, whose server always completes its bodies) can produce.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lambda_cache_core::ManualClock;
use lambda_cache_core::{Cache, CacheError};
use lambda_cache_s3::{Error, S3Cache};
use lambda_cache_testkit::{files_in, sdk_config};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Serves `responses` in order, one per connection, then stops. Returns the endpoint and the
/// count of connections served.
fn scripted_server(responses: Vec<Vec<u8>>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0_u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(&response);
            let _ = stream.flush();
            count.fetch_add(1, Ordering::SeqCst);
            // Dropping the stream closes the connection, wherever the body stood.
        }
    });
    (endpoint, served)
}

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// An S3 cache reading from `server`, with a directory of its own.
async fn s3_on(server: &MockServer) -> (S3Cache, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Cache::builder(
        Cache::builder().build().unwrap(),
        s3_client(&sdk_config(&server.uri()).await),
    )
    .directory(dir.path())
    .build();
    (s3, dir)
}

fn response(content_length: usize, etag: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \
         {content_length}\r\nETag: \"{etag}\"\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn a_body_cut_in_the_middle_leaves_the_previous_file_intact_and_no_temp_file() {
    let original: Vec<u8> = (0..=255_u8).cycle().take(700).collect();
    let (endpoint, served) = scripted_server(vec![
        response(original.len(), "e1", &original),
        response(1000, "e2", &[b'N'; 400]),
    ]);
    let client = s3_client(&sdk_config(&endpoint).await);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let s3 = S3Cache::builder(
        Cache::builder().clock(clock.clock()).build().unwrap(),
        client,
    )
    .directory(dir.path())
    .build();

    let file = s3.get_entry("s3://bucket/data.bin").await.unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap(), original);

    clock.advance(Duration::from_secs(61));
    let err = s3.get_entry("s3://bucket/data.bin").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated { expected: 1000, .. } | Error::Transport { .. }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(served.load(Ordering::SeqCst), 2);

    assert_eq!(
        std::fs::read(dir.path().join("data.bin")).unwrap(),
        original,
        "previous file intact"
    );
    assert_eq!(files_in(dir.path()), ["data.bin"], "no partial file behind");
    // The cached entry is intact too: a reader accepting an older value gets it at once.
    let kept = s3
        .get_entry_with("s3://bucket/data.bin", Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(kept.size(), 700);
}

#[tokio::test]
async fn access_denied_and_slow_down_are_typed_and_classed() {
    let server = MockServer::start().await;
    let error = |status: u16, code: &str| {
        ResponseTemplate::new(status)
            .insert_header("content-type", "application/xml")
            .set_body_string(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <Error><Code>{code}</Code><Message>{code} here</Message></Error>"
            ))
    };
    Mock::given(method("GET"))
        .respond_with(error(403, "AccessDenied"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(error(503, "SlowDown"))
        .with_priority(2)
        .mount(&server)
        .await;
    let (s3, dir) = s3_on(&server).await;
    let err = s3.get_entry("s3://bucket/secret.bin").await.unwrap_err();
    assert!(
        matches!(&err, Error::AccessDenied { uri, .. } if uri == "s3://bucket/secret.bin"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let err = s3.get_entry("s3://bucket/secret.bin").await.unwrap_err();
    assert_eq!(
        err,
        Error::Throttled {
            uri: "s3://bucket/secret.bin".into()
        }
    );
    assert!(err.is_transient());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert!(files_in(dir.path()).is_empty(), "nothing written");
}

/// A 304 to a read that sent no validator (a proxy may answer so), for bytes and for files: a
/// typed error naming the URI, never a panic nor an unchanged value that is not held; the next
/// read, answered properly, stores the object.
#[tokio::test]
async fn not_modified_to_an_unconditional_read_is_an_error_naming_the_uri() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(304))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"e1\"")
                .set_body_bytes(b"allow".to_vec()),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let (s3, dir) = s3_on(&server).await;
    let uri = "s3://bucket/allow-list.txt";
    let err = s3
        .get_bytes(uri, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport { uri: named, message } if named == uri && message.contains("304")),
        "{err:?}"
    );
    let err = s3.get_entry(uri).await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport { uri: named, .. } if named == uri),
        "{err:?}"
    );
    assert!(files_in(dir.path()).is_empty(), "nothing written");
    let bytes = s3.get_bytes(uri, Duration::from_secs(60)).await.unwrap();
    assert_eq!(bytes.as_slice(), b"allow");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    for request in server.received_requests().await.unwrap() {
        assert!(!request.headers.contains_key("if-none-match"));
    }
}
