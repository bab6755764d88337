//! Which parameter: the id type, name validation, short names, and matching a response to its
//! request.

use std::borrow::Cow;
use std::fmt;

use crate::Error;

/// One SSM parameter: a path (`/app/db/host`), a plain name, or a parameter ARN, optionally with
/// a version or label selector. Converts from `&str`, `&String` and `String`, so every getter
/// takes a name as it is; [`ParameterId::version`] and [`ParameterId::label`] pin one without
/// string formatting. The selector is part of the cache key: `var:3` and `var` are two entries.
///
/// ```
/// use lambda_cache_ssm::ParameterId;
/// let latest: ParameterId<'_> = "/prod/app/var".into();
/// assert_eq!(latest.name(), "/prod/app/var");
/// assert_eq!(ParameterId::new("/prod/app/var").version(3).name(), "/prod/app/var:3");
/// assert_eq!(ParameterId::new("/prod/app/var:3").label("live").name(), "/prod/app/var:live");
/// assert!(ParameterId::new("/prod/app/ var").check().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParameterId<'a> {
    name: Cow<'a, str>,
}

impl<'a> ParameterId<'a> {
    /// The parameter `name`, as given (checked when first read, or by [`ParameterId::check`]).
    ///
    /// ```
    /// let id = lambda_cache_ssm::ParameterId::new("/prod/app/var");
    /// # let _ = id;
    /// ```
    pub fn new(name: impl Into<Cow<'a, str>>) -> Self {
        Self { name: name.into() }
    }

    /// Version `version` of the parameter, replacing any selector the name had.
    ///
    /// ```
    /// let v3 = lambda_cache_ssm::ParameterId::new("/prod/app/var").version(3);
    /// assert_eq!(v3.name(), "/prod/app/var:3");
    /// ```
    #[must_use]
    pub fn version(self, version: u64) -> ParameterId<'static> {
        ParameterId::new(format!("{}:{version}", split_selector(&self.name).0))
    }

    /// The version carrying `label`, replacing any selector the name had.
    ///
    /// ```
    /// let live = lambda_cache_ssm::ParameterId::new("/prod/app/var").label("live");
    /// assert_eq!(live.name(), "/prod/app/var:live");
    /// ```
    #[must_use]
    pub fn label(self, label: &str) -> ParameterId<'static> {
        ParameterId::new(format!("{}:{label}", split_selector(&self.name).0))
    }

    /// The name, with its selector if any: what GetParameters is asked for.
    ///
    /// ```
    /// assert_eq!(lambda_cache_ssm::ParameterId::new("app-var").name(), "app-var");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the name before any call (see [`validate`]).
    ///
    /// # Errors
    /// [`Error::InvalidName`] naming the input.
    ///
    /// ```
    /// assert!(lambda_cache_ssm::ParameterId::new("").check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        validate(&self.name)
    }
}

impl<'a> From<&'a str> for ParameterId<'a> {
    fn from(name: &'a str) -> Self {
        Self::new(name)
    }
}

impl<'a> From<&&'a str> for ParameterId<'a> {
    fn from(name: &&'a str) -> Self {
        Self::new(*name)
    }
}

impl<'a> From<&'a String> for ParameterId<'a> {
    fn from(name: &'a String) -> Self {
        Self::new(name.as_str())
    }
}

impl From<String> for ParameterId<'static> {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

impl<'a> From<&ParameterId<'a>> for ParameterId<'a> {
    fn from(id: &ParameterId<'a>) -> Self {
        id.clone()
    }
}

impl fmt::Display for ParameterId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The longest name SSM accepts, ARN included.
const MAX_NAME_LEN: usize = 2048;

/// Checks that `name` is a parameter name SSM could accept: a path (`/app/db/host`), a plain
/// name (`app-db-host`), either with a version or label selector (`:3`, `:live`), or a full
/// parameter ARN (for parameters shared from another account).
///
/// # Errors
/// [`Error::InvalidName`] naming the input and what is wrong with it.
///
/// ```
/// assert!(lambda_cache_ssm::check_name("/prod/app/var:live").is_ok());
/// assert!(lambda_cache_ssm::check_name("/prod/app/ var").is_err());
/// ```
pub fn validate(name: &str) -> Result<(), Error> {
    let invalid = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("the name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return invalid("the name is longer than 2048 characters");
    }
    let local = match name.strip_prefix("arn:") {
        Some(rest) => match rest.split_once(":parameter") {
            Some((_, local)) if !local.is_empty() => local,
            _ => {
                return invalid(
                    "an ARN must have the form arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME",
                );
            }
        },
        None => name,
    };
    if let Some(bad) = local
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-/:".contains(*c)))
    {
        return Err(Error::InvalidName {
            name: name.to_owned(),
            reason: if bad.is_whitespace() {
                "the name contains white space"
            } else {
                "the name may contain only letters, digits and _ . - / (and one : before a selector)"
            },
        });
    }
    let (base, selector) = split_selector(local);
    if base.ends_with('/') {
        return invalid("the name ends with '/': name a parameter, not a path");
    }
    if base.contains("//") {
        return invalid("the name contains an empty path segment '//'");
    }
    if base.trim_start_matches('/').is_empty() {
        return invalid("the name has no parameter part");
    }
    if let Some(selector) = selector
        && (selector.is_empty() || selector.contains(':'))
    {
        return invalid("a selector is one version number or label after a single ':'");
    }
    Ok(())
}

/// Checks that `path` names a hierarchy level: it starts with '/'.
///
/// # Errors
/// [`Error::InvalidName`] naming the input.
///
/// ```
/// assert!(lambda_cache_ssm::check_path("/prod/app/").is_ok());
/// assert!(lambda_cache_ssm::check_path("prod/app").is_err());
/// ```
pub fn validate_path(path: &str) -> Result<(), Error> {
    let invalid = |reason| {
        Err(Error::InvalidName {
            name: path.to_owned(),
            reason,
        })
    };
    if !path.starts_with('/') {
        return invalid("a path starts with '/'");
    }
    if path.contains("//") {
        return invalid("the path contains an empty segment '//'");
    }
    if path.contains(':') || path.chars().any(char::is_whitespace) {
        return invalid("a path has no selector and no white space");
    }
    Ok(())
}

/// Splits `name:selector` (the part after the last '/') into the name and the selector.
fn split_selector(name: &str) -> (&str, Option<&str>) {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].find(':') {
        Some(colon) => (
            &name[..last_slash + colon],
            Some(&name[last_slash + colon + 1..]),
        ),
        None => (name, None),
    }
}

/// The default entry name: the part after the last '/', without a selector. `/prod/app/var`,
/// `test/app/var` and `arn:...:parameter/app/var:3` all give `var`.
///
/// ```
/// assert_eq!(lambda_cache_ssm::short_name("/production/app/var"), "var");
/// assert_eq!(lambda_cache_ssm::short_name("app-var:live"), "app-var");
/// assert_eq!(lambda_cache_ssm::short_name("arn:aws:ssm:eu-west-1:123456789012:parameter/app/db"), "db");
/// ```
pub fn short_name(name: &str) -> &str {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split(':').next().unwrap_or(last)
}

/// One parameter of a GetParameters answer, as far as matching it to a request goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer<'a> {
    pub(crate) name: &'a str,
    pub(crate) arn: Option<&'a str>,
    /// `:1` or `:live` for an answer to a request with a selector (real SSM sets it; some
    /// emulators leave it out).
    pub(crate) selector: Option<&'a str>,
    pub(crate) version: i64,
}

/// True if `answer` may answer the request `requested`.
///
/// SSM's answer gives the name without selector and the ARN (for a parameter shared from
/// another account, the name is the ARN). One call may ask for a pinned version and the latest
/// of one name (`/app/p:1` and `/app/p`): real SSM marks the pinned answer with its `Selector`,
/// so a request without a selector never takes an answer that has one, and a request with a
/// selector takes only the answer with that selector. Where the answer has no `Selector` at all
/// (emulators), a numeric selector is matched on the version; among several candidates for one
/// request, [`best`] takes the latest version.
pub(crate) fn answers(requested: &str, answer: &Answer<'_>) -> bool {
    let (requested_base, requested_selector) = split_selector(requested);
    let selector = answer
        .selector
        .map(|s| s.trim_start_matches(':'))
        .filter(|s| !s.is_empty());
    let selector_matches = match (requested_selector, selector) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(wanted), Some(got)) => got == wanted,
        (Some(wanted), None) => match wanted.parse::<i64>() {
            Ok(version) => answer.version == version,
            // A label cannot be checked without the selector.
            Err(_) => true,
        },
    };
    // A parameter shared from another account is answered with its ARN as the name.
    let base_matches = requested_base == answer.name
        || (requested_base.starts_with("arn:")
            && answer.arn.is_some_and(|arn| arn == requested_base));
    base_matches && selector_matches
}

/// The answer to `requested` among `answers`: the latest version of those that may answer it.
pub(crate) fn best<'a>(requested: &str, answers_: &[Answer<'a>]) -> Option<usize> {
    answers_
        .iter()
        .enumerate()
        .filter(|(_, a)| answers(requested, a))
        .max_by_key(|(_, a)| a.version)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_name_form() {
        for name in [
            "/production/app/var",
            "test/app/var",
            "app-var",
            "app_var.v2",
            "/app/var:3",
            "/app/var:live",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/app/var",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/app/var:7",
        ] {
            assert_eq!(validate(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_bad_names_naming_them() {
        for (name, fragment) in [
            ("", "empty"),
            ("/app/ var", "white space"),
            ("/app/var/", "ends with '/'"),
            ("/app//var", "'//'"),
            ("/app/v@r", "only letters"),
            ("/app/var:", "selector"),
            ("/app/var:1:2", "selector"),
            ("arn:aws:s3:::bucket", "ARN"),
            ("/", "ends with '/'"),
        ] {
            let err = validate(name).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(fragment), "{name}: {text}");
            assert!(matches!(err, Error::InvalidName { name: n, .. } if n == name));
        }
        assert!(validate(&"a".repeat(2049)).is_err());
    }

    #[test]
    fn short_names_drop_the_path_and_the_selector() {
        assert_eq!(short_name("/production/app/var"), "var");
        assert_eq!(short_name("test/app/var"), "var");
        assert_eq!(short_name("/app/var:3"), "var");
        assert_eq!(short_name("plain"), "plain");
        assert_eq!(short_name("plain:live"), "plain");
    }

    fn answer<'a>(
        name: &'a str,
        arn: Option<&'a str>,
        selector: Option<&'a str>,
        version: i64,
    ) -> Answer<'a> {
        Answer {
            name,
            arn,
            selector,
            version,
        }
    }

    #[test]
    fn responses_match_requests_by_name_arn_and_selector() {
        let arn = "arn:aws:ssm:us-east-1:111122223333:parameter/shared/key";
        let plain = answer("/shared/key", Some(arn), None, 1);
        assert!(answers("/shared/key", &plain));
        assert!(answers(arn, &plain));
        assert!(!answers(
            arn,
            &answer("/shared/key", Some("arn:other"), None, 1)
        ));
        // A parameter shared from another account comes back named by its ARN.
        assert!(answers(arn, &answer(arn, Some(arn), None, 1)));
        assert!(answers(
            &format!("{arn}:2"),
            &answer(arn, Some(arn), Some(":2"), 2)
        ));
        assert!(answers(
            "/shared/key:3",
            &answer("/shared/key", Some(arn), Some(":3"), 3)
        ));
        assert!(!answers(
            "/shared/key:3",
            &answer("/shared/key", Some(arn), Some(":4"), 4)
        ));
        assert!(!answers("/shared/other", &plain));
    }

    #[test]
    fn a_pinned_and_the_latest_version_in_one_answer_go_each_to_its_request_as_ssm_answers() {
        // Real SSM marks the answer to `/app/p:1` with `Selector: ":1"`.
        let answers_ = [
            answer("/app/p", None, Some(":1"), 1),
            answer("/app/p", None, None, 3),
        ];
        assert_eq!(best("/app/p:1", &answers_), Some(0));
        assert_eq!(best("/app/p", &answers_), Some(1));
        // In the other order too.
        let answers_ = [answers_[1], answers_[0]];
        assert_eq!(best("/app/p:1", &answers_), Some(1));
        assert_eq!(best("/app/p", &answers_), Some(0));
    }

    #[test]
    fn a_pinned_and_the_latest_version_in_one_answer_go_each_to_its_request_as_emulators_answer() {
        // moto leaves `Selector` out: the pinned one is told apart by its version, the latest
        // by being the highest.
        for answers_ in [
            [
                answer("/app/p", None, None, 1),
                answer("/app/p", None, None, 3),
            ],
            [
                answer("/app/p", None, None, 3),
                answer("/app/p", None, None, 1),
            ],
        ] {
            let pinned = best("/app/p:1", &answers_).unwrap();
            let latest = best("/app/p", &answers_).unwrap();
            assert_eq!(answers_[pinned].version, 1);
            assert_eq!(answers_[latest].version, 3);
        }
        // A pinned version that is not in the answer is not found.
        assert_eq!(best("/app/p:2", &[answer("/app/p", None, None, 3)]), None);
    }

    #[test]
    fn paths_start_with_a_slash() {
        assert_eq!(validate_path("/app"), Ok(()));
        assert_eq!(validate_path("/app/"), Ok(()));
        assert!(validate_path("app").is_err());
        assert!(validate_path("/app:3").is_err());
    }
}
