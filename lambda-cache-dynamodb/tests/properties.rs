//! Property tests of the number key parser: whatever the text, a typed answer, never a panic,
//! an error that names the input (shortened if long), and one canonical form per number.

use lambda_cache_dynamodb::{Error, ItemKey, KeyValue};
use lambda_cache_testkit::{any_text, assert_names_input, parser_cases};
use proptest::prelude::*;

fn canonical(text: &str) -> String {
    match KeyValue::n(text).unwrap_or_else(|e| panic!("{text:?}: {e}")) {
        KeyValue::N { canonical, .. } => canonical,
        other => panic!("{text:?}: not a number: {other:?}"),
    }
}

proptest! {
    #![proptest_config(parser_cases())]

    #[test]
    fn any_text_is_a_number_or_an_error_naming_it(text in any_text()) {
        match KeyValue::n(&text) {
            Ok(KeyValue::N { text: kept, canonical: form }) => {
                prop_assert_eq!(&kept, &text);
                // The canonical form is itself a number with the same canonical form.
                prop_assert_eq!(canonical(&form), form);
            }
            Ok(other) => prop_assert!(false, "{:?}: not a number: {:?}", text, other),
            Err(Error::InvalidKey { key, .. }) => {
                prop_assert_eq!(&key, &text);
                assert_names_input(&KeyValue::n(&text).unwrap_err().to_string(), &text);
            }
            Err(other) => prop_assert!(false, "{:?}: not an InvalidKey: {:?}", text, other),
        }
    }

    #[test]
    fn number_shaped_text_is_a_number_or_an_error_naming_it(
        text in "[+-]?[0-9]{0,45}(\\.[0-9]{0,45})?([eE][+-]?[0-9]{0,4})?"
    ) {
        match KeyValue::n(&text) {
            Ok(_) => prop_assert_eq!(canonical(&canonical(&text)), canonical(&text)),
            Err(e) => assert_names_input(&e.to_string(), &text),
        }
    }

    #[test]
    fn one_number_written_many_ways_has_one_canonical_form(
        digits in "[1-9][0-9]{0,20}",
        zeros in 0_usize..5,
        shift in 0_usize..10,
    ) {
        let plain = canonical(&digits);
        prop_assert_eq!(&canonical(&format!("{}{digits}", "0".repeat(zeros))), &plain);
        prop_assert_eq!(&canonical(&format!("{digits}.{}", "0".repeat(zeros))), &plain);
        prop_assert_eq!(&canonical(&format!("{digits}e0")), &plain);
        prop_assert_eq!(&canonical(&format!("{digits}{}e-{shift}", "0".repeat(shift))), &plain);
        prop_assert_eq!(&canonical(&format!("+{digits}")), &plain);
        prop_assert_ne!(&canonical(&format!("-{digits}")), &plain);
    }

    #[test]
    fn any_table_and_key_text_makes_a_key(table in any_text(), value in any_text()) {
        let key = ItemKey::new(&table, "pk", value.as_str()).sort("sk", value.as_str());
        prop_assert_eq!(key.table(), table.as_str());
        let _ = key.to_string();
    }
}
