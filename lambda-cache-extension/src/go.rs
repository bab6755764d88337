//! Go's `time.ParseDuration` and `strconv.ParseBool`, exactly: the seed's variables are written
//! in Go's grammar, so a value that worked with the Go extension means the same here.

use std::fmt;

/// A value that Go's parser would reject, with the text as given (already shortened if long).
///
/// ```
/// let err = lambda_cache_extension::go::parse_duration("1d").unwrap_err();
/// assert_eq!(err.to_string(), r#"unknown unit "d" in duration "1d""#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoSyntaxError {
    message: String,
}

impl fmt::Display for GoSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GoSyntaxError {}

/// The text of a value for a message: quoted, and shortened if long ([`lambda_cache::shown`]).
pub(crate) fn quote(text: &str) -> String {
    lambda_cache::shown(text).to_string()
}

fn invalid(orig: &str) -> GoSyntaxError {
    GoSyntaxError {
        message: format!("invalid duration {}", quote(orig)),
    }
}

const NANOSECOND: u64 = 1;
const MICROSECOND: u64 = 1_000 * NANOSECOND;
const MILLISECOND: u64 = 1_000 * MICROSECOND;
const SECOND: u64 = 1_000 * MILLISECOND;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const LIMIT: u64 = 1 << 63;

fn unit(name: &str) -> Option<u64> {
    Some(match name {
        "ns" => NANOSECOND,
        // U+00B5 (micro sign) and U+03BC (Greek small letter mu), as Go accepts both.
        "us" | "\u{b5}s" | "\u{3bc}s" => MICROSECOND,
        "ms" => MILLISECOND,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        _ => return None,
    })
}

/// Parses a duration the way Go's `time.ParseDuration` does: a signed sequence of decimal
/// numbers, each with an optional fraction and a unit (`ns`, `us` or `µs`, `ms`, `s`, `m`,
/// `h`), such as `"300ms"`, `"-1.5h"` or `"2h45m"`; `"0"` needs no unit. Returns nanoseconds
/// (Go's `Duration`), which may be negative.
///
/// # Errors
/// [`GoSyntaxError`] with Go's own wording (without its `time: ` prefix) for anything Go
/// rejects, overflow of ±2⁶³ ns included.
///
/// ```
/// use lambda_cache_extension::go::parse_duration;
/// assert_eq!(parse_duration("2h45m").unwrap(), (2 * 3600 + 45 * 60) * 1_000_000_000);
/// assert_eq!(parse_duration("1.5s").unwrap(), 1_500_000_000);
/// assert!(parse_duration("3").is_err());
/// ```
pub fn parse_duration(orig: &str) -> Result<i64, GoSyntaxError> {
    let mut s = orig;
    let mut neg = false;
    if let Some(first) = s.bytes().next()
        && (first == b'-' || first == b'+')
    {
        neg = first == b'-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid(orig));
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid(orig));
        }
        // [0-9]*
        let before = s.len();
        let (mut v, rest) = leading_int(s).ok_or_else(|| invalid(orig))?;
        s = rest;
        let pre = before != s.len();
        // (\.[0-9]*)?
        let mut post = false;
        let mut fraction = 0_u64;
        let mut scale = 1.0_f64;
        if let Some(rest) = s.strip_prefix('.') {
            let before = rest.len();
            let (f, sc, rest) = leading_fraction(rest);
            fraction = f;
            scale = sc;
            s = rest;
            post = before != s.len();
        }
        if !pre && !post {
            return Err(invalid(orig));
        }
        // The unit: everything up to the next digit or '.'.
        let end = s
            .bytes()
            .position(|c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if end == 0 {
            return Err(GoSyntaxError {
                message: format!("missing unit in duration {}", quote(orig)),
            });
        }
        let (name, rest) = s.split_at(end);
        s = rest;
        let unit = unit(name).ok_or_else(|| GoSyntaxError {
            message: format!("unknown unit {} in duration {}", quote(name), quote(orig)),
        })?;
        if v > LIMIT / unit {
            return Err(invalid(orig));
        }
        v *= unit;
        if fraction > 0 {
            // As Go: float64 keeps fractions of hours exact to the nanosecond.
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            {
                v += (fraction as f64 * (unit as f64 / scale)) as u64;
            }
            if v > LIMIT {
                return Err(invalid(orig));
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid(orig));
        }
    }
    if neg {
        // total <= 2^63, so its negation fits.
        #[allow(clippy::cast_possible_wrap)]
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid(orig))
}

/// `[0-9]*` as a number, or `None` on overflow past 2⁶³.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let mut x: u64 = 0;
    let mut end = 0;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            break;
        }
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > LIMIT {
            return None;
        }
        end += 1;
    }
    Some((x, &s[end..]))
}

/// `[0-9]*` after a '.', as digits and their scale; digits past what fits are dropped.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let mut x: u64 = 0;
    let mut scale = 1.0_f64;
    let mut overflow = false;
    let mut end = 0;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            break;
        }
        end += 1;
        if overflow {
            continue;
        }
        if x > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > LIMIT {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[end..])
}

/// Parses a boolean the way Go's `strconv.ParseBool` does: `1`, `t`, `T`, `TRUE`, `true`,
/// `True` are true; `0`, `f`, `F`, `FALSE`, `false`, `False` are false.
///
/// # Errors
/// [`GoSyntaxError`] naming the text for anything else (`yes`, `on`, `tRuE`, ...).
///
/// ```
/// use lambda_cache_extension::go::parse_bool;
/// assert_eq!(parse_bool("True"), Ok(true));
/// assert_eq!(parse_bool("0"), Ok(false));
/// assert!(parse_bool("yes").is_err());
/// ```
pub fn parse_bool(text: &str) -> Result<bool, GoSyntaxError> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(GoSyntaxError {
            message: format!(
                "invalid boolean {}: give one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False",
                quote(text)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;

    /// Go's own table (`parseDurationTests` in `src/time/time_test.go`).
    #[test]
    fn go_parse_duration_table() {
        let cases: &[(&str, i64)] = &[
            // simple
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            // sign
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            // decimal
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            // different units
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12\u{b5}s", 12 * US),
            ("12\u{3bc}s", 12 * US),
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            // composite durations
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
            (
                "1h2m3s4ms5us6ns",
                H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
            ),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            // large value
            ("52763797000ns", 52_763_797_000 * NS),
            // more than 9 digits after decimal point, see https://golang.org/issue/6617
            ("0.3333333333333333333h", 20 * M),
            // 9007199254740993 = 1<<53+1 cannot be stored precisely in a float64
            ("9007199254740993ns", (1 << 53) + 1),
            // largest duration that can be represented by int64 in nanoseconds
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            // largest negative value
            ("-9223372036854775808ns", i64::MIN),
            // largest negative round trip value, see https://golang.org/issue/48629
            ("-2562047h47m16.854775808s", i64::MIN),
            // huge string; issue 15011.
            ("0.100000000000000000000h", 6 * M),
            // This value tests the first overflow check in leadingFraction.
            (
                "0.830103483285477580700h",
                49 * M + 48 * S + 372_539_827 * NS,
            ),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text:?}");
        }
    }

    /// Go's `parseDurationErrorTests` and the invalid inputs of `parseDurationTests`, with
    /// Go's messages (the invalid-UTF-8 ones cannot be a Rust `&str`; the settings reader
    /// rejects a variable that is not UTF-8 before it gets here).
    #[test]
    fn go_parse_duration_errors() {
        let cases: &[(&str, &str)] = &[
            ("", r#"invalid duration """#),
            ("3", r#"missing unit in duration "3""#),
            ("-", r#"invalid duration "-""#),
            ("s", r#"invalid duration "s""#),
            (".", r#"invalid duration ".""#),
            ("-.", r#"invalid duration "-.""#),
            (".s", r#"invalid duration ".s""#),
            ("+.s", r#"invalid duration "+.s""#),
            ("1d", r#"unknown unit "d" in duration "1d""#),
            ("1.5.2s", r#"missing unit in duration "1.5.2s""#),
            ("\u{85}\u{85}", "invalid duration \"\u{85}\u{85}\""),
            (
                "9223372036854775810ns",
                r#"invalid duration "9223372036854775810ns""#,
            ),
            (
                "9223372036854775808ns",
                r#"invalid duration "9223372036854775808ns""#,
            ),
            (
                "-9223372036854775809ns",
                r#"invalid duration "-9223372036854775809ns""#,
            ),
            (
                "9223372036854775.808us",
                r#"invalid duration "9223372036854775.808us""#,
            ),
            (
                "9223372036854ms775us808ns",
                r#"invalid duration "9223372036854ms775us808ns""#,
            ),
            (
                "9223372036s854ms775us808ns",
                r#"invalid duration "9223372036s854ms775us808ns""#,
            ),
            (
                "9223372036854s775ms807us",
                r#"invalid duration "9223372036854s775ms807us""#,
            ),
            ("3000000h", r#"invalid duration "3000000h""#),
            ("1s ", r#"unknown unit "s " in duration "1s ""#),
            (" 1s", r#"invalid duration " 1s""#),
        ];
        for &(text, message) in cases {
            let err = parse_duration(text).expect_err(text);
            // Go quotes with strconv.Quote; ours is Rust's Debug, the same for these inputs.
            assert_eq!(
                err.to_string(),
                message.replace('\u{85}', "\\u{85}"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn long_input_is_shortened_in_the_message() {
        let text = "9".repeat(10_000);
        let err = parse_duration(&text).unwrap_err().to_string();
        assert!(err.len() < 120, "{err}");
        assert!(err.ends_with("\"… (10000 bytes)"), "{err}");
    }

    /// Go's `atobTests` (`src/strconv/atob_test.go`).
    #[test]
    fn go_parse_bool_table() {
        let cases: &[(&str, Option<bool>)] = &[
            ("", None),
            ("asdf", None),
            ("0", Some(false)),
            ("f", Some(false)),
            ("F", Some(false)),
            ("FALSE", Some(false)),
            ("false", Some(false)),
            ("False", Some(false)),
            ("1", Some(true)),
            ("t", Some(true)),
            ("T", Some(true)),
            ("TRUE", Some(true)),
            ("true", Some(true)),
            ("True", Some(true)),
            ("tRuE", None),
            ("yes", None),
            (" true", None),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_bool(text).ok(), want, "{text:?}");
        }
        assert!(parse_bool("on").unwrap_err().to_string().contains("\"on\""));
    }
}
