//! Property tests of the profile check: whatever the three parts and the poll interval, a
//! typed answer, never a panic, and an error that names the profile (shortened if long) and
//! the part at fault.

use std::time::Duration;

use lambda_cache_appconfig::variants::{Context, Rule};
use lambda_cache_appconfig::{Error, Profile};
use lambda_cache_testkit::{any_text, assert_names_input, parser_cases};
use proptest::prelude::*;

proptest! {
    #![proptest_config(parser_cases())]

    #[test]
    fn any_parts_are_a_profile_or_an_error_naming_it(
        application in any_text(),
        environment in any_text(),
        profile in any_text(),
        interval in proptest::option::of(0_u64..200_000),
    ) {
        let mut given = Profile::new(&application, &environment, &profile);
        if let Some(seconds) = interval {
            given = given.min_poll_interval(Duration::from_secs(seconds));
        }
        let label = format!("{application}/{environment}/{profile}");
        prop_assert_eq!(given.to_string(), label.as_str());
        match given.check() {
            Ok(()) => {
                for part in [&application, &environment, &profile] {
                    prop_assert!(!part.is_empty() && part.len() <= 128);
                    prop_assert!(!part.chars().any(char::is_control));
                }
                prop_assert!(interval.is_none_or(|s| (15..=86_400).contains(&s)));
            }
            Err(err @ Error::InvalidProfile { .. }) => {
                assert_names_input(&err.to_string(), &label);
            }
            Err(other) => prop_assert!(false, "{:?}: not an InvalidProfile: {:?}", label, other),
        }
    }
}

/// Rule-shaped text: AppConfig's operators, operands and punctuation, in any order.
fn rule_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(" ".to_owned()),
        prop::sample::select(vec![
            "eq",
            "gt",
            "gte",
            "lt",
            "lte",
            "and",
            "or",
            "not",
            "begins_with",
            "ends_with",
            "contains",
            "in",
            "matches",
            "exists",
            "split",
            "in::",
            "pattern::",
            "key::",
            "by::",
            "pct::",
            "seed::",
            "true",
            "false",
            "2024-01",
            "2012-03-04T05:06:07-08:00",
        ])
        .prop_map(str::to_owned),
        "\\$[a-z]{0,3}",
        "-?[0-9]{1,4}(\\.[0-9]{1,2})?",
        "\"[a-z.*()\\\\\\[]{0,4}\"?",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// Valid rules, built from the grammar, with their meaning computed beside them.
fn valid_rule() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        ("[a-c]", "[a-c]").prop_map(|(k, v)| format!("(eq ${k} \"{v}\")")),
        ("[a-c]", 0_i32..10).prop_map(|(k, n)| format!("(gt ${k} {n})")),
        "[a-c]".prop_map(|k| format!("(exists key::\"{k}\")")),
        ("[a-c]", "[a-c]").prop_map(|(k, v)| format!("(begins_with ${k} \"{v}\")")),
        ("[a-c]", 0_u8..=100).prop_map(|(k, p)| format!("(split by::${k} pct::{p})")),
        "[a-c]".prop_map(|k| format!("(in ${k} [\"a\", \"b\", 3])")),
        "[a-c]".prop_map(|k| format!("(matches in::${k} pattern::\"^[ab]\")")),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4)
                .prop_map(|parts| format!("(and {})", parts.join(" "))),
            proptest::collection::vec(inner.clone(), 2..4)
                .prop_map(|parts| format!("(or {})", parts.join(" "))),
            inner.prop_map(|part| format!("(not {part})")),
        ]
    })
}

fn any_context() -> impl Strategy<Value = Context> {
    proptest::collection::btree_map("[a-c]", "[a-c0-9]{0,2}", 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .fold(Context::new(), |context, (k, v)| context.with(k, v))
    })
}

proptest! {
    #![proptest_config(parser_cases())]

    /// Any text: a rule or an error saying where, in a short message; never a panic.
    #[test]
    fn any_text_is_a_rule_or_an_error_saying_where(text in any_text()) {
        match Rule::parse(&text) {
            Ok(rule) => { let _ = rule.matches(&Context::new()); }
            Err(err) => {
                let message = err.to_string();
                prop_assert!(message.starts_with("at byte "), "{}", message);
                prop_assert!(message.len() < 400, "{} bytes: {}", message.len(), message);
            }
        }
    }

    /// Rule-shaped text, evaluated against any context when it parses: never a panic.
    #[test]
    fn rule_shaped_text_parses_or_is_refused_and_evaluates_without_panic(
        text in rule_like(),
        context in any_context(),
    ) {
        match Rule::parse(&text) {
            Ok(rule) => { let _ = rule.matches(&context); }
            Err(err) => prop_assert!(err.to_string().starts_with("at byte "), "{}", err),
        }
    }

    /// A rule built from the grammar always parses, and `not` of it is its negation.
    #[test]
    fn grammar_rules_parse_and_not_negates(rule in valid_rule(), context in any_context()) {
        let parsed = Rule::parse(&rule).map_err(|e| TestCaseError::fail(format!("{rule}: {e}")))?;
        let negated = Rule::parse(&format!("(not {rule})"))
            .map_err(|e| TestCaseError::fail(format!("(not {rule}): {e}")))?;
        prop_assert_ne!(parsed.matches(&context), negated.matches(&context), "{}", rule);
    }

    /// Any `Context` header: pairs read or an error naming the pair, never a panic.
    #[test]
    fn any_context_header_is_read_or_refused(header in any_text()) {
        let mut context = Context::new();
        if let Err(err) = context.add_header(&header) {
            let message = err.to_string();
            prop_assert!(message.starts_with("Context pair ") || message.contains("Context keys"), "{}", message);
            prop_assert!(message.len() < 400, "{}", message);
        }
    }
}
