//! Property tests of the parameter name parser: whatever the input, a typed answer, never a
//! panic, and an error that names the input (shortened if long).

use lambda_cache_ssm::{Error, ParameterId, check_name, check_path, short_name};
use lambda_cache_testkit::{any_text, assert_names_input, parser_cases};
use proptest::prelude::*;

/// Names shaped like the real ones: paths, plain names, selectors, ARNs, with stray characters.
fn name_like() -> impl Strategy<Value = String> {
    (
        "(arn:aws[a-z-]{0,4}:ssm:[a-z0-9-]{0,14}:[0-9]{0,13}:parameter)?",
        "/?([a-zA-Z0-9_.-]{0,12}/?){0,6}",
        "[ :/#\\\\%]?",
        "(:[a-zA-Z0-9_.-]{0,8})?",
    )
        .prop_map(|(arn, path, stray, selector)| format!("{arn}{path}{stray}{selector}"))
}

fn checked(name: &str) {
    match check_name(name) {
        Ok(()) => {
            assert!(!name.is_empty());
            let _ = short_name(name);
            assert_eq!(ParameterId::new(name).name(), name);
        }
        Err(Error::InvalidName { name: named, .. }) => {
            assert_eq!(named, name);
            assert_names_input(&check_name(name).unwrap_err().to_string(), name);
        }
        Err(other) => panic!("{name:?}: not an InvalidName: {other:?}"),
    }
    match check_path(name) {
        Ok(()) => assert!(name.starts_with('/'), "{name:?}"),
        Err(e) => assert_names_input(&e.to_string(), name),
    }
}

proptest! {
    #![proptest_config(parser_cases())]

    #[test]
    fn any_text_is_a_name_or_an_error_naming_it(name in any_text()) {
        checked(&name);
    }

    #[test]
    fn name_shaped_text_is_a_name_or_an_error_naming_it(name in name_like()) {
        checked(&name);
    }
}
