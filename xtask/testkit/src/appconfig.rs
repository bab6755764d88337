//! A fake of AWS AppConfigData (which moto does not implement) on wiremock, enforcing the
//! service's rules as its documentation states them:
//!
//! - StartConfigurationSession (`POST /configurationsessions`) opens a session on a deployed
//!   profile (404 `ResourceNotFoundException` otherwise) and hands out its first token;
//! - GetLatestConfiguration (`GET /configuration?configuration_token=`) takes a token once:
//!   a used, unknown or expired token is a 400 `BadRequestException`; every answer carries a
//!   new token and the poll interval (`Next-Poll-Interval-In-Seconds`), and its body is the
//!   content only if the session has not received this version yet (empty otherwise);
//! - faults set by the test (throttling, 5xx) answer a poll without using its token.
//!
//! It counts sessions, polls, refused tokens and the content bytes sent. The poll interval is
//! handed out but not enforced in wall time: library tests move a manual clock, and count
//! polls to show the interval is kept.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The fake AppConfigData service. Clones share the server and its state.
#[derive(Clone)]
pub struct FakeAppConfig {
    server: Arc<MockServer>,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Deployed content by (application, environment, profile).
    deployed: HashMap<(String, String, String), Deployed>,
    /// Open sessions: their profile and the version each last received.
    sessions: Vec<Session>,
    /// Every token handed out: its session, and whether it was used (or expired).
    tokens: HashMap<String, Token>,
    next_token: u64,
    poll_interval: u32,
    /// How long StartConfigurationSession takes to answer.
    start_delay: std::time::Duration,
    /// Polls still to fail, with the status and error code to answer.
    faults: std::collections::VecDeque<(u16, &'static str)>,
    starts: usize,
    polls: usize,
    refused: usize,
    bytes_sent: usize,
}

struct Deployed {
    content: Vec<u8>,
    content_type: String,
    version: u32,
}

struct Session {
    profile: (String, String, String),
    /// The version this session last received (0: none yet).
    version: u32,
}

struct Token {
    session: usize,
    spent: bool,
}

impl FakeAppConfig {
    /// Starts the fake on a loopback port, with a poll interval of 60 seconds and nothing
    /// deployed.
    pub async fn start() -> Self {
        let server = Arc::new(MockServer::start().await);
        let state = Arc::new(Mutex::new(State {
            poll_interval: 60,
            ..State::default()
        }));
        Mock::given(method("POST"))
            .and(path("/configurationsessions"))
            .respond_with(Handler {
                state: Arc::clone(&state),
                start: true,
            })
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/configuration"))
            .respond_with(Handler {
                state: Arc::clone(&state),
                start: false,
            })
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The endpoint to point an SDK client at.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Deploys `content` to a profile: a new version, which every session receives at its
    /// next poll.
    pub fn deploy(
        &self,
        application: &str,
        environment: &str,
        profile: &str,
        content: &[u8],
        content_type: &str,
    ) {
        let mut state = self.state.lock();
        let key = (
            application.to_owned(),
            environment.to_owned(),
            profile.to_owned(),
        );
        let version = state.deployed.get(&key).map_or(1, |held| held.version + 1);
        state.deployed.insert(
            key,
            Deployed {
                content: content.to_vec(),
                content_type: content_type.to_owned(),
                version,
            },
        );
    }

    /// The poll interval handed out from now on, in seconds.
    pub fn set_poll_interval(&self, seconds: u32) {
        self.state.lock().poll_interval = seconds;
    }

    /// StartConfigurationSession answers after `delay` from now on (a slow or far service).
    pub fn delay_starts(&self, delay: std::time::Duration) {
        self.state.lock().start_delay = delay;
    }

    /// The next `times` polls answer `status` with error `code` (`ThrottlingException`,
    /// `InternalServerException`), leaving their tokens unused.
    pub fn fail_polls(&self, times: usize, status: u16, code: &'static str) {
        let mut state = self.state.lock();
        state
            .faults
            .extend(std::iter::repeat_n((status, code), times));
    }

    /// Expires every token handed out so far (as 24 hours would).
    pub fn expire_tokens(&self) {
        for token in self.state.lock().tokens.values_mut() {
            token.spent = true;
        }
    }

    /// StartConfigurationSession calls received.
    pub fn starts(&self) -> usize {
        self.state.lock().starts
    }

    /// GetLatestConfiguration calls received (answered, refused or failed).
    pub fn polls(&self) -> usize {
        self.state.lock().polls
    }

    /// Polls refused for a used, unknown or expired token.
    pub fn refused(&self) -> usize {
        self.state.lock().refused
    }

    /// Content bytes sent in poll answers (an unchanged profile's empty body adds nothing).
    pub fn bytes_sent(&self) -> usize {
        self.state.lock().bytes_sent
    }
}

impl std::fmt::Debug for FakeAppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAppConfig")
            .field("uri", &self.server.uri())
            .finish_non_exhaustive()
    }
}

struct Handler {
    state: Arc<Mutex<State>>,
    start: bool,
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock();
        if self.start {
            state.start_session(request)
        } else {
            state.poll(request)
        }
    }
}

impl State {
    fn start_session(&mut self, request: &Request) -> ResponseTemplate {
        self.starts += 1;
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&request.body) else {
            return error(400, "BadRequestException", "the body is not JSON");
        };
        let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
        let profile = (
            field("ApplicationIdentifier"),
            field("EnvironmentIdentifier"),
            field("ConfigurationProfileIdentifier"),
        );
        if let Some(interval) = body["RequiredMinimumPollIntervalInSeconds"].as_u64()
            && !(15..=86_400).contains(&interval)
        {
            return error(
                400,
                "BadRequestException",
                "RequiredMinimumPollIntervalInSeconds is out of range",
            );
        }
        if !self.deployed.contains_key(&profile) {
            return error(
                404,
                "ResourceNotFoundException",
                &format!(
                    "no configuration profile {}/{}/{}",
                    profile.0, profile.1, profile.2
                ),
            );
        }
        self.sessions.push(Session {
            profile,
            version: 0,
        });
        let token = self.issue(self.sessions.len() - 1);
        ResponseTemplate::new(201)
            .insert_header("content-type", "application/json")
            .set_body_json(serde_json::json!({ "InitialConfigurationToken": token }))
            .set_delay(self.start_delay)
    }

    fn poll(&mut self, request: &Request) -> ResponseTemplate {
        self.polls += 1;
        if let Some((status, code)) = self.faults.pop_front() {
            return error(status, code, "fault injected by the test");
        }
        let token = request
            .url
            .query_pairs()
            .find(|(name, _)| name == "configuration_token")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let session = match self.tokens.get_mut(&token) {
            Some(held) if !held.spent => {
                held.spent = true;
                held.session
            }
            _ => {
                self.refused += 1;
                return error(
                    400,
                    "BadRequestException",
                    "the token is used, expired or unknown",
                );
            }
        };
        let Some(deployed) = self.deployed.get(&self.sessions[session].profile) else {
            return error(404, "ResourceNotFoundException", "the profile was deleted");
        };
        let changed = self.sessions[session].version != deployed.version;
        let (content, content_type, version) = (
            if changed {
                deployed.content.clone()
            } else {
                Vec::new()
            },
            deployed.content_type.clone(),
            deployed.version,
        );
        self.sessions[session].version = version;
        self.bytes_sent += content.len();
        let next = self.issue(session);
        // The body (empty when unchanged) with the profile's content type.
        ResponseTemplate::new(200)
            .insert_header("next-poll-configuration-token", next.as_str())
            .insert_header(
                "next-poll-interval-in-seconds",
                self.poll_interval.to_string().as_str(),
            )
            .insert_header("version-label", version.to_string().as_str())
            .set_body_raw(content, &content_type)
    }

    fn issue(&mut self, session: usize) -> String {
        self.next_token += 1;
        let token = format!("token-{}-{}", session, self.next_token);
        self.tokens.insert(
            token.clone(),
            Token {
                session,
                spent: false,
            },
        );
        token
    }
}

/// An error in the REST JSON protocol: its code in `x-amzn-errortype`, a message in the body.
fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-amzn-errortype", code)
        .insert_header("content-type", "application/json")
        .set_body_json(serde_json::json!({ "Message": message }))
}
