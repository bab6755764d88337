//! Parameter names: validation, short names, and matching a response to its request.

use crate::Error;

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

/// True if the response parameter (`name`, `arn`, `selector`) answers the request `requested`.
///
/// SSM's response gives the name without selector and the ARN (for a parameter shared from
/// another account, the name is the ARN); a request by ARN or with a selector is matched on
/// those.
pub(crate) fn answers(
    requested: &str,
    name: &str,
    arn: Option<&str>,
    selector: Option<&str>,
) -> bool {
    let (requested_base, requested_selector) = split_selector(requested);
    let selector_matches = match (requested_selector, selector) {
        (None, _) => true,
        (Some(wanted), Some(got)) => got.trim_start_matches(':') == wanted,
        // Some emulators omit the selector in the response; the name match below still holds.
        (Some(_), None) => true,
    };
    // A parameter shared from another account is answered with its ARN as the name.
    let base_matches = requested_base == name
        || (requested_base.starts_with("arn:") && arn.is_some_and(|arn| arn == requested_base));
    base_matches && selector_matches
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

    #[test]
    fn responses_match_requests_by_name_arn_and_selector() {
        let arn = "arn:aws:ssm:us-east-1:111122223333:parameter/shared/key";
        assert!(answers("/shared/key", "/shared/key", Some(arn), None));
        assert!(answers(arn, "/shared/key", Some(arn), None));
        assert!(!answers(arn, "/shared/key", Some("arn:other"), None));
        // A parameter shared from another account comes back named by its ARN.
        assert!(answers(arn, arn, Some(arn), None));
        assert!(answers(&format!("{arn}:2"), arn, Some(arn), Some(":2")));
        assert!(answers(
            "/shared/key:3",
            "/shared/key",
            Some(arn),
            Some(":3")
        ));
        assert!(!answers(
            "/shared/key:3",
            "/shared/key",
            Some(arn),
            Some(":4")
        ));
        assert!(!answers("/shared/other", "/shared/key", Some(arn), None));
    }

    #[test]
    fn paths_start_with_a_slash() {
        assert_eq!(validate_path("/app"), Ok(()));
        assert_eq!(validate_path("/app/"), Ok(()));
        assert!(validate_path("app").is_err());
        assert!(validate_path("/app:3").is_err());
    }
}
