//! Property tests of the extension's parsers read at start: Go durations and booleans, every
//! environment variable, and `cache.yaml`. Whatever the input: a typed answer, never a panic,
//! an error that names the input (shortened if long), and never the token.

use std::ffi::OsString;
use std::path::Path;

use lambda_cache_extension::config::{CacheFile, InitError, Settings, profile_path};
use lambda_cache_extension::go::{parse_bool, parse_duration};
use lambda_cache_testkit::{any_text, assert_names_input, parser_cases};
use proptest::prelude::*;

/// Every variable the extension reads, but the token's.
const VARIABLES: [&str; 28] = [
    "AWS_APPCONFIG_EXTENSION_HTTP_PORT",
    "AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS",
    "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST",
    "CACHE_EXTENSION_AUTH",
    "CACHE_EXTENSION_BACKEND_TIMEOUT",
    "CACHE_EXTENSION_CONFIG",
    "CACHE_EXTENSION_INIT_BUDGET",
    "CACHE_EXTENSION_INIT_STARTUP",
    "CACHE_EXTENSION_MAX_IN_FLIGHT",
    "CACHE_EXTENSION_MAX_STALE",
    "CACHE_EXTENSION_METRICS",
    "CACHE_EXTENSION_METRICS_DIMENSIONS",
    "CACHE_EXTENSION_METRICS_NAMESPACE",
    "CACHE_EXTENSION_NEGATIVE_TTL",
    "CACHE_EXTENSION_PORT",
    "CACHE_EXTENSION_REFRESH_AHEAD",
    "CACHE_EXTENSION_SECRETS_REVALIDATE",
    "CACHE_EXTENSION_SHARED_TIER_IAM",
    "CACHE_EXTENSION_SHARED_TIER_PREFIX",
    "CACHE_EXTENSION_SHARED_TIER_SECRETS",
    "CACHE_EXTENSION_STALE_WHILE_REVALIDATE",
    "CACHE_EXTENSION_TTL",
    "LAMBDA_TASK_ROOT",
    "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED",
    "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE",
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
    "SECRETS_MANAGER_TTL",
    "SSM_PARAMETER_STORE_TTL",
];

/// A token no generated value contains by chance.
const TOKEN: &str = "tok-5f0c2a9e1b7d43e8";

/// Durations as Go writes them, and near misses.
fn duration_like() -> impl Strategy<Value = String> {
    "[+-]?(([0-9]{0,6}(\\.[0-9]{0,4})?)(ns|us|µs|μs|ms|s|m|h|d|)){1,4}"
}

/// `cache.yaml` documents that are valid YAML with the file's keys, misspelled keys, and
/// values of every type in every place.
fn config_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("table"),
        Just("hashKey"),
        Just("hashkey"),
        Just("hashKeyType"),
        Just("sortKey"),
        Just("sortKeyType"),
        Just("fields"),
        Just("ttl"),
        Just("hashKye"),
        Just("tabel"),
    ];
    let value = prop_oneof![
        "[a-zA-Z0-9_.-]{0,12}",
        Just("S".to_owned()),
        Just("N".to_owned()),
        Just("B".to_owned()),
        Just("X".to_owned()),
        Just("5m".to_owned()),
        Just("-1s".to_owned()),
        Just("[a, b]".to_owned()),
        Just("{}".to_owned()),
        Just("~".to_owned()),
        Just("12".to_owned()),
    ];
    let table = proptest::collection::vec((key, value), 0..6).prop_map(|pairs| {
        let mut text = String::from("  - ");
        for (i, (key, value)) in pairs.iter().enumerate() {
            if i > 0 {
                text.push_str("    ");
            }
            text.push_str(&format!("{key}: {value}\n"));
        }
        if pairs.is_empty() {
            text.push_str("{}\n");
        }
        text
    });
    let section = prop_oneof![
        Just("dynamodb"),
        Just("parameters"),
        Just("secrets"),
        Just("appconfig"),
        Just("dynamoDB")
    ];
    proptest::collection::vec((section, proptest::collection::vec(table, 0..3)), 0..3).prop_map(
        |sections| {
            let mut text = String::new();
            for (section, tables) in sections {
                text.push_str(&format!("{section}:\n"));
                for table in tables {
                    text.push_str(&table);
                }
            }
            text
        },
    )
}

fn parsed(text: &str) {
    let path = Path::new("/var/task/cache.yaml");
    match CacheFile::parse(text, path) {
        Ok(_) => {}
        Err(error @ InitError::ConfigFile { .. }) => {
            let message = error.to_string();
            assert!(message.contains("/var/task/cache.yaml"), "{message}");
            assert!(
                message.len() < 2000,
                "a {} byte message: {message}",
                message.len()
            );
        }
        Err(other) => panic!("not a ConfigFile error: {other:?}"),
    }
}

/// The settings with `name` set to `value`, the token set, nothing else.
fn settings(name: &str, value: &str) -> Result<Settings, InitError> {
    Settings::from_lookup(|asked| match asked {
        "AWS_SESSION_TOKEN" => Some(OsString::from(TOKEN)),
        _ if asked == name => Some(OsString::from(value)),
        _ => None,
    })
}

proptest! {
    #![proptest_config(parser_cases())]

    #[test]
    fn any_text_is_a_duration_or_an_error_naming_it(text in any_text()) {
        if let Err(e) = parse_duration(&text) {
            assert_names_input(&e.to_string(), &text);
        }
    }

    #[test]
    fn duration_shaped_text_is_a_duration_or_an_error_naming_it(text in duration_like()) {
        if let Err(e) = parse_duration(&text) {
            assert_names_input(&e.to_string(), &text);
        }
    }

    #[test]
    fn any_text_is_a_boolean_or_an_error_naming_it(text in any_text()) {
        match parse_bool(&text) {
            Ok(value) => prop_assert!(["1", "t", "T", "TRUE", "true", "True", "0", "f", "F",
                "FALSE", "false", "False"].contains(&text.as_str()) && value == text.starts_with(['1', 't', 'T'])),
            Err(e) => assert_names_input(&e.to_string(), &text),
        }
    }

    #[test]
    fn any_value_of_any_variable_is_read_or_an_error_naming_both(
        index in 0..VARIABLES.len(),
        value in prop_oneof![any_text(), duration_like(), "[0-9]{1,6}"],
    ) {
        let name = VARIABLES[index];
        match settings(name, &value) {
            Ok(_) => {}
            Err(error) => {
                let message = error.to_string();
                prop_assert!(!message.contains(TOKEN), "the token in {}", message);
                match &error {
                    InitError::Variable { name: named, .. } => {
                        prop_assert_eq!(*named, name);
                        assert_names_input(&message, &value);
                    }
                    // The configuration file a variable points to may be missing or wrong.
                    InitError::ConfigFile { .. } => prop_assert!(
                        ["CACHE_EXTENSION_CONFIG", "LAMBDA_TASK_ROOT"].contains(&name)
                    ),
                    other => prop_assert!(false, "{}={:?}: {:?}", name, value, other),
                }
            }
        }
    }

    #[test]
    fn any_text_is_a_config_file_or_an_error_naming_the_file(text in any_text()) {
        parsed(&text);
    }

    #[test]
    fn config_shaped_documents_are_read_or_an_error_naming_the_file(text in config_like()) {
        parsed(&text);
    }

    #[test]
    fn any_path_is_a_profile_or_a_short_reason(
        text in prop_oneof![
            any_text(),
            "/applications/[^/]{0,140}/environments/[^/]{0,12}/configurations/[^/]{0,12}",
            "/applications/(%[0-9A-Fa-f]{2}|[a-z]){0,8}/environments/e/configurations/p",
        ]
    ) {
        match profile_path(&text) {
            Ok(profile) => prop_assert!(profile.check().is_ok()),
            // The caller names the path (a variable, cache.yaml, a request); the reason is short.
            Err(reason) => prop_assert!(reason.len() < 200, "{}", reason),
        }
    }
}
