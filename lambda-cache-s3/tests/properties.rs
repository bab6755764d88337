//! Property tests of the S3 URI and file name parser: whatever the URI or entry name, a typed
//! answer, never a panic, and an error that names the input (shortened if long).

use lambda_cache_s3::{Error, Object, S3Uri};
use lambda_cache_testkit::{any_text, assert_names_input, parser_cases};
use proptest::prelude::*;

/// URIs shaped like the real ones, with the mistakes people make.
fn uri_like() -> impl Strategy<Value = String> {
    (
        "(s3://|s3:/|S3://|https://)?",
        "[a-z0-9.-]{0,64}",
        "(/[a-zA-Z0-9 ._-]{0,20}){0,5}",
        "/?(\\.|\\.\\.|\\.lambda-cache-x)?",
    )
        .prop_map(|(scheme, bucket, key, tail)| format!("{scheme}{bucket}{key}{tail}"))
}

/// What an error about `object` must show: the URI, or for a bad file name the URI with it.
fn checked(object: Object<'_>) {
    let uri = object.uri();
    let Err(error) = object.check() else {
        let parsed = S3Uri::parse(uri).expect("a checked object's URI parses");
        assert!(
            !parsed.bucket().is_empty() && !parsed.key().is_empty(),
            "{uri:?}"
        );
        assert!(!object.file_name().contains('/'), "{uri:?}");
        return;
    };
    let Error::InvalidUri { uri: named, .. } = &error else {
        panic!("{uri:?}: not an InvalidUri: {error:?}");
    };
    let input = if S3Uri::parse(uri).is_err() {
        uri.to_owned()
    } else {
        format!("{uri} (entry name {:?})", object.file_name())
    };
    assert_eq!(named, &input);
    assert_names_input(&error.to_string(), &input);
}

proptest! {
    #![proptest_config(parser_cases())]

    #[test]
    fn any_text_is_a_uri_or_an_error_naming_it(uri in any_text()) {
        if let Err(e) = S3Uri::parse(&uri) {
            assert_names_input(&e.to_string(), &uri);
        }
        checked(Object::new(&uri));
    }

    #[test]
    fn uri_shaped_text_is_a_uri_or_an_error_naming_it(uri in uri_like()) {
        checked(Object::new(&uri));
    }

    #[test]
    fn any_entry_name_is_a_file_name_or_an_error_naming_it(name in any_text()) {
        checked(Object::new("s3://bucket/models/model.bin").entry_name(&name));
    }
}
