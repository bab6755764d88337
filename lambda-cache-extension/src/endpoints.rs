//! No loop: the function's `AWS_ENDPOINT_URL_*` variables are the extension's too (Lambda gives
//! both one environment). One that points at a port the extension listens on, on a loopback
//! address, would send the extension's own backend calls to itself; such a variable is
//! ignored for the extension's clients, which then use the next endpoint the SDK would (the
//! global `AWS_ENDPOINT_URL` unless it points here too, else the service's own), and INIT says
//! so in the log.

/// The endpoint variables the AWS SDKs read for the services the extension calls, and the
/// global one.
pub(crate) const VARIABLES: [&str; 5] = [
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_APPCONFIGDATA",
    "AWS_ENDPOINT_URL",
];

/// The variables of [`VARIABLES`] (read through `get`) that point at one of `ports` on a
/// loopback address: the extension itself.
pub(crate) fn pointing_here(
    get: impl Fn(&str) -> Option<String>,
    ports: &[u16],
) -> Vec<&'static str> {
    VARIABLES
        .into_iter()
        .filter(|name| get(name).is_some_and(|url| is_here(&url, ports)))
        .collect()
}

/// True if `url` is `http(s)://<loopback>[:port]/...` with a port of `ports`.
fn is_here(url: &str, ports: &[u16]) -> bool {
    let (default_port, rest) = match url.trim().split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (80, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (443, rest),
        _ => return false,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => return false,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => default_port,
        Some(port) => match port.parse::<u16>() {
            Ok(port) => port,
            Err(_) => return false,
        },
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback && ports.contains(&port)
}

/// The endpoint for the client of the service whose variable is `variable`, when the
/// variables `ignored` point here: `None` to leave the client as the SDK configures it (its
/// variable, else the global one, else the service's own endpoint), `Some(endpoint)` to set
/// it: the global endpoint unless that points here too, else the service's own (`None`).
pub(crate) fn replacement(
    variable: &str,
    get: impl Fn(&str) -> Option<String>,
    ignored: &[&'static str],
    sdk: &aws_config::SdkConfig,
) -> Option<Option<String>> {
    let global_ignored = ignored.contains(&"AWS_ENDPOINT_URL");
    let own_set = get(variable).is_some();
    if ignored.contains(&variable) || (global_ignored && !own_set) {
        Some(
            sdk.endpoint_url()
                .filter(|_| !global_ignored)
                .map(str::to_owned),
        )
    } else {
        None
    }
}

/// The variables (of the process environment) pointing at `ports`, each said in the log.
pub(crate) fn ignored_here(ports: &[u16]) -> Vec<&'static str> {
    let ignored = pointing_here(environment, ports);
    for variable in &ignored {
        crate::log(&format!(
            "INIT: {variable} points at this extension; its own backend calls ignore it (no loop)"
        ));
    }
    ignored
}

/// A variable of the process environment, if set and not empty.
pub(crate) fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_url_on_a_listening_port_is_here() {
        let ports = [2773, 4000];
        for url in [
            "http://127.0.0.1:2773",
            "http://localhost:4000/",
            "HTTP://127.1.2.3:2773/x",
            "http://[::1]:4000",
            "http://user@localhost:2773",
        ] {
            assert!(is_here(url, &ports), "{url}");
        }
        for url in [
            "http://127.0.0.1:2772",
            "https://ssm.us-east-1.amazonaws.com",
            "http://10.0.0.1:2773",
            "http://localhost",
            "localhost:2773",
            "http://[::1",
            "http://127.0.0.1:notaport",
        ] {
            assert!(!is_here(url, &ports), "{url}");
        }
        assert!(is_here("http://localhost", &[80]));
    }

    #[test]
    fn only_the_variables_pointing_here_are_named() {
        let get = |name: &str| match name {
            "AWS_ENDPOINT_URL_SSM" => Some("http://localhost:2773".to_owned()),
            "AWS_ENDPOINT_URL_DYNAMODB" => Some("http://127.0.0.1:8000".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:4000".to_owned()),
            _ => None,
        };
        assert_eq!(
            pointing_here(get, &[2773, 4000]),
            ["AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL"]
        );
    }
}

#[cfg(test)]
mod replacement_tests {
    use super::*;

    #[test]
    fn an_ignored_variable_falls_back_to_the_next_endpoint() {
        let sdk = aws_config::SdkConfig::builder()
            .endpoint_url("http://moto:5000")
            .build();
        let set = |names: &'static [&'static str]| {
            move |name: &str| names.contains(&name).then(|| "x".to_owned())
        };
        const SSM: &str = "AWS_ENDPOINT_URL_SSM";
        const GLOBAL: &str = "AWS_ENDPOINT_URL";
        let ssm = SSM;
        // Nothing points here: the SDK's own choice.
        assert_eq!(replacement(ssm, set(&[SSM]), &[], &sdk), None);
        // The service's variable points here: the global endpoint.
        assert_eq!(
            replacement(ssm, set(&[SSM]), &[SSM], &sdk),
            Some(Some("http://moto:5000".to_owned()))
        );
        // The global one points here and the service has none: the service's own endpoint.
        assert_eq!(
            replacement(ssm, set(&[GLOBAL]), &[GLOBAL], &sdk),
            Some(None)
        );
        // Both: the service's own endpoint.
        assert_eq!(
            replacement(ssm, set(&[SSM, GLOBAL]), &[SSM, GLOBAL], &sdk),
            Some(None)
        );
        // The global one points here, but the service's own variable points elsewhere.
        assert_eq!(replacement(ssm, set(&[SSM, GLOBAL]), &[GLOBAL], &sdk), None);
    }
}
