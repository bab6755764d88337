//! Property tests of the secret reference parser: whatever the name, stage or version id, a
//! typed answer, never a panic, and an error that names the input (shortened if long).

use lambda_cache_secrets::{Error, SecretId, short_name};
use lambda_cache_testkit::{any_text, assert_names_input, parser_cases};
use proptest::prelude::*;

/// References shaped like the real ones: names with paths, ARNs with the random suffix.
fn secret_like() -> impl Strategy<Value = String> {
    (
        "(arn:aws:secretsmanager:[a-z0-9-]{0,14}:[0-9]{0,12}:secret:)?",
        "[a-zA-Z0-9/_+=.@-]{0,40}",
        "[ #%\\\\:]?",
        "(-[a-zA-Z0-9]{6})?",
    )
        .prop_map(|(arn, name, stray, suffix)| format!("{arn}{name}{stray}{suffix}"))
}

fn checked(id: SecretId<'_>, input: &str) {
    match id.check() {
        Ok(()) => assert!(!input.is_empty()),
        Err(Error::InvalidName { input: named, .. }) => {
            assert_eq!(named, input);
            assert_names_input(&id.check().unwrap_err().to_string(), input);
        }
        Err(other) => panic!("{input:?}: not an InvalidName: {other:?}"),
    }
}

proptest! {
    #![proptest_config(parser_cases())]

    #[test]
    fn any_name_is_checked(name in any_text()) {
        checked(SecretId::new(&name), &name);
        let _ = short_name(&name);
    }

    #[test]
    fn secret_shaped_names_are_checked(name in secret_like()) {
        checked(SecretId::new(&name), &name);
        let _ = short_name(&name);
    }

    #[test]
    fn any_stage_or_version_id_is_checked(version in any_text()) {
        checked(SecretId::new("prod/db").stage(&version), &version);
        checked(SecretId::new("prod/db").version_id(&version), &version);
    }
}
