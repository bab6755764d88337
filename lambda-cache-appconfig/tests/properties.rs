//! Property tests of the profile check: whatever the three parts and the poll interval, a
//! typed answer, never a panic, and an error that names the profile (shortened if long) and
//! the part at fault.

use std::time::Duration;

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
