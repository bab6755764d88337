//! A model file from S3, kept in `/tmp` and revalidated every hour.

use std::io::Read;
use std::time::Duration;

use lambda_cache::entries::{Entries, EntriesBuilder, Snapshot};
use lambda_cache::s3;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

/// The model read when `MODEL_URI` is not set.
pub const DEFAULT_MODEL: &str = "s3://models-bucket/models/model.onnx";

/// Declares the model file, revalidated after an hour; its entry (and file) name is the key's
/// last segment.
pub fn entries(model_uri: &str) -> EntriesBuilder {
    Entries::builder().entry(s3::file(model_uri).max_age(Duration::from_secs(3600)))
}

/// The handler: opens the local copy of the model (a real one would load it once per version).
///
/// # Errors
/// A missing entry or an unreadable file.
pub async fn handler(event: LambdaEvent<Value>, cached: Snapshot) -> Result<Value, Error> {
    let model = cached.get::<s3::LocalFile>("model.onnx")?;
    let mut header = [0_u8; 4];
    std::fs::File::open(model.path())?.read_exact(&mut header)?;
    Ok(json!({
        "request_id": event.context.request_id,
        "model_bytes": model.size(),
        "model_header": String::from_utf8_lossy(&header),
        "path": model.path().display().to_string(),
    }))
}
