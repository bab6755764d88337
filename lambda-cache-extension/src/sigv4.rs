//! SigV4 verification of the AWS SDKs' requests: a request to the SDK endpoint is accepted when
//! its signature verifies against the execution environment's credentials (the variables Lambda
//! gives the function and the extension alike), dated within 5 minutes.
//!
//! Only the headers the request says it signed are read, as AWS reads them; the signature is
//! compared in constant time, and nothing about the secret appears in an error.

use std::time::{Duration, UNIX_EPOCH};

use hyper::HeaderMap;
use lambda_cache::Sensitive;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// How far a request's date may be from now, either way.
const WINDOW: Duration = Duration::from_secs(5 * 60);

/// The access key and secret a request must be signed with.
pub(crate) struct Credentials {
    access_key: String,
    secret: Sensitive<String>,
}

impl Credentials {
    /// From the environment Lambda gives (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`); `None`
    /// where either is missing (then only the token header is accepted).
    pub(crate) fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let access_key = get("AWS_ACCESS_KEY_ID").filter(|k| !k.is_empty())?;
        let secret = get("AWS_SECRET_ACCESS_KEY").filter(|s| !s.is_empty())?;
        Some(Self {
            access_key,
            secret: Sensitive::new(secret),
        })
    }
}

/// Why a request was refused: each is the error an AWS service gives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No `Authorization` header (and no token): `MissingAuthenticationTokenException`.
    Missing,
    /// Signed with another access key: `UnrecognizedClientException`.
    UnknownKey,
    /// Malformed, dated out of the window, or a signature that does not verify:
    /// `InvalidSignatureException`, with what was wrong.
    Invalid(String),
}

impl Refused {
    /// The AWS error code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::UnknownKey => "UnrecognizedClientException",
            Self::Invalid(_) => "InvalidSignatureException",
        }
    }

    /// The message, as the services word theirs (never a key's secret).
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Missing => "Request is missing Authentication Token".to_owned(),
            Self::UnknownKey => "The security token included in the request is invalid.".to_owned(),
            Self::Invalid(why) => why.clone(),
        }
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, Refused> {
    let invalid = |why: &str| Refused::Invalid(format!("Authorization header: {why}"));
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| invalid("only AWS4-HMAC-SHA256 is accepted"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| invalid("a part is not name=value"))?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return Err(invalid("an unknown part")),
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(invalid(
            "Credential, SignedHeaders and Signature are all needed",
        ));
    };
    let mut scope = credential.split('/');
    let (Some(access_key), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(invalid(
            "the credential is not key/date/region/service/aws4_request",
        ));
    };
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// `20261205T150102Z` as seconds since the epoch.
fn parse_amz_date(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    // Days since the epoch of a civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// A header's value as SigV4 canonicalises it: trimmed, inner runs of spaces made one, repeated
/// headers joined by commas.
fn canonical_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut out = String::new();
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let text = value.to_str().ok()?;
        let mut last_space = false;
        for c in text.trim().chars() {
            if c == ' ' {
                if !last_space {
                    out.push(' ');
                }
                last_space = true;
            } else {
                out.push(c);
                last_space = false;
            }
        }
    }
    Some(out)
}

/// The canonical query string: pairs sorted by name then value, each part URI-encoded as
/// SigV4 encodes it (the SDKs send them encoded that way already; they are decoded and
/// encoded again so that either form verifies).
fn canonical_query(query: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let encode = |text: &str| {
        let decoded = percent_encoding::percent_decode_str(text).collect::<Vec<u8>>();
        percent_encoding::percent_encode(&decoded, KEEP).to_string()
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (encode(name), encode(value))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Verifies the request's SigV4 signature against `credentials` at `now` (seconds since the
/// epoch). `path` is as received (the SDKs of these services post to `/`).
pub(crate) fn verify(
    credentials: &Credentials,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<(), Refused> {
    let Some(value) = headers.get(hyper::header::AUTHORIZATION) else {
        return Err(Refused::Missing);
    };
    let value = value
        .to_str()
        .map_err(|_| Refused::Invalid("Authorization header: not visible ASCII".to_owned()))?;
    let auth = parse_authorization(value)?;
    if !bool::from(
        auth.access_key
            .as_bytes()
            .ct_eq(credentials.access_key.as_bytes()),
    ) {
        return Err(Refused::UnknownKey);
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Refused::Invalid("X-Amz-Date is missing".to_owned()))?;
    let signed_at = parse_amz_date(amz_date)
        .ok_or_else(|| Refused::Invalid("X-Amz-Date is not YYYYMMDDTHHMMSSZ".to_owned()))?;
    if signed_at.abs_diff(now) > WINDOW.as_secs() {
        return Err(Refused::Invalid(format!(
            "Signature expired: {amz_date} is not within 5 minutes of the current time"
        )));
    }
    if amz_date.get(..8) != Some(auth.date) {
        return Err(Refused::Invalid(
            "the credential's date is not X-Amz-Date's".to_owned(),
        ));
    }
    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-amz-date") {
        return Err(Refused::Invalid(
            "SignedHeaders must include host and x-amz-date".to_owned(),
        ));
    }
    let mut canonical = format!("{method}\n{path}\n{}\n", canonical_query(query));
    for name in &names {
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(Refused::Invalid(
                "SignedHeaders must be lower-case names".to_owned(),
            ));
        }
        let value = canonical_value(headers, name).ok_or_else(|| {
            Refused::Invalid(format!("the signed header {name} is not in the request"))
        })?;
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(auth.signed_headers);
    canonical.push('\n');
    match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(given) if names.contains(&"x-amz-content-sha256") => canonical.push_str(given),
        _ => canonical.push_str(&sha256_hex(body)),
    }
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let day = UNIX_EPOCH + Duration::from_secs(signed_at);
    let key = aws_sigv4::sign::v4::generate_signing_key(
        credentials.secret.expose(),
        day,
        auth.region,
        auth.service,
    );
    let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(())
    } else {
        Err(Refused::Invalid(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method."
                .to_owned(),
        ))
    }
}

/// Seconds since the epoch of a `SystemTime` (for tests that sign at a chosen time).
#[cfg(test)]
fn seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials as AwsCredentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4::SigningParams;
    use std::time::SystemTime;

    const BODY: &[u8] = br#"{"Name":"/app/db/host","WithDecryption":true}"#;

    fn ours() -> Credentials {
        Credentials::from_env(|name| match name {
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned()),
            _ => None,
        })
        .unwrap()
    }

    /// A request signed by the Rust SDK's own signer, with `secret`, at `time`.
    fn signed(secret: &str, key: &str, time: SystemTime) -> HeaderMap {
        let identity =
            AwsCredentials::new(key, secret, Some("session".into()), None, "test").into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("ssm")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [
            ("host", "127.0.0.1:2773"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonSSM.GetParameter"),
        ];
        let request = SignableRequest::new(
            "POST",
            "http://127.0.0.1:2773/",
            headers.into_iter(),
            SignableBody::Bytes(BODY),
        )
        .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(name, value.parse().unwrap());
        }
        for (name, value) in instructions.headers() {
            map.insert(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn check(headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), Refused> {
        verify(&ours(), "POST", "/", "", headers, body, seconds(now))
    }

    #[test]
    fn a_request_signed_with_our_secret_verifies_and_any_change_does_not() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let headers = signed(secret, "AKIDEXAMPLE", now);
        assert_eq!(check(&headers, BODY, now), Ok(()));
        // Four minutes either way is within the window.
        assert_eq!(
            check(&headers, BODY, now + Duration::from_secs(240)),
            Ok(())
        );
        // Another body, another signed header value, another secret: refused.
        assert!(matches!(
            check(&headers, br#"{"Name":"/app/other"}"#, now),
            Err(Refused::Invalid(_))
        ));
        let mut changed = headers.clone();
        changed.insert("x-amz-target", "AmazonSSM.GetParameters".parse().unwrap());
        assert!(matches!(
            check(&changed, BODY, now),
            Err(Refused::Invalid(_))
        ));
        let forged = signed("another-secret", "AKIDEXAMPLE", now);
        assert!(matches!(
            check(&forged, BODY, now),
            Err(Refused::Invalid(_))
        ));
        // Another access key: the service's UnrecognizedClientException.
        let other = signed(secret, "AKIDOTHER", now);
        assert_eq!(check(&other, BODY, now), Err(Refused::UnknownKey));
        // Six minutes late, or early: expired.
        for skew in [
            now + Duration::from_secs(360),
            now - Duration::from_secs(360),
        ] {
            match check(&headers, BODY, skew) {
                Err(Refused::Invalid(why)) => assert!(why.contains("expired"), "{why}"),
                other => panic!("{other:?}"),
            }
        }
        // No Authorization header at all.
        let mut bare = headers.clone();
        bare.remove(hyper::header::AUTHORIZATION);
        assert_eq!(check(&bare, BODY, now), Err(Refused::Missing));
    }

    #[test]
    fn malformed_authorization_is_refused_naming_what_is_wrong() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let good = signed(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "AKIDEXAMPLE",
            now,
        );
        for value in [
            "Basic dXNlcjpwYXNz",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/us-east-1/ssm",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/us-east-1/ssm/aws4_request, Signature=00",
            "AWS4-HMAC-SHA256 nonsense",
        ] {
            let mut headers = good.clone();
            headers.insert(hyper::header::AUTHORIZATION, value.parse().unwrap());
            match check(&headers, BODY, now) {
                Err(Refused::Invalid(why)) => assert!(why.contains("Authorization"), "{why}"),
                other => panic!("{value}: {other:?}"),
            }
        }
        let mut headers = good;
        headers.insert("x-amz-date", "2026-12-05T15:00:00Z".parse().unwrap());
        assert!(matches!(
            check(&headers, BODY, now),
            Err(Refused::Invalid(_))
        ));
    }

    #[test]
    fn amz_dates_are_read_as_the_calendar_says() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20000301T000000Z"), Some(951_868_800));
        assert_eq!(parse_amz_date("20261205T150102Z"), Some(1_796_482_862));
        for bad in [
            "20261305T000000Z",
            "2026120T000000Z",
            "20261205 150102Z",
            "+0261205T150102Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
