//! The shared tier (feature `shared`): a store that many caches (a fleet of execution
//! environments) read before their backend, so that the fleet fetches each key about once per
//! max age instead of once per environment.
//!
//! The engine defines what a tier must do ([`SharedTier`]: read, take a lease, write, pause) and
//! what a value must do to travel through one ([`SharedValue`]); `lambda-cache-redis` implements
//! the tier on Redis or Valkey, and the fleet simulation (`cargo xtask fleet`) on simulated time.
//!
//! A miss of a cache with a tier, in [`Cache::get_or_fetch_shared`](crate::Cache::get_or_fetch_shared):
//! 1. reads the tier; a record young enough for the caller's max age is the answer, as old as
//!    it is there;
//! 2. else takes the key's lease with a token of its own (`SET NX PX`): the holder fetches
//!    from the backend and writes the value back for the caller's max age, releasing the lease
//!    in the same atomic step, and only if the lease is still its own; the others poll the
//!    tier until the value comes, the lease comes free (they take it), or their deadline
//!    [`LeaseSettings::wait`] passes (they fetch);
//! 3. a write-back never replaces a newer record ([`RecordOrder`]: the backend's version
//!    number where it has one, else the moment the value was read), so a late writer of an
//!    older value leaves the fleet on the newer one;
//! 4. a tier call that fails or times out (each bounded by the tier itself) sends the read
//!    straight to the backend, counted in [`Stats::shared_errors`](crate::Stats).
//!
//! Values that say they are secret ([`SharedValue::is_secret`]) are neither written nor read
//! unless the read's policy opts in ([`Policy::share_secrets`]).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::declare::BoxFuture;
use crate::entry::{Entry, Fetched, Validator};
use crate::error::CacheError;
use crate::key::Key;
use crate::policy::Policy;
use crate::stats::Counters;

/// The version of the record format, its first byte.
const FORMAT: u8 = 2;

/// A value that can be stored in a shared tier: a compact encoding with a type tag.
///
/// ```
/// use lambda_cache_core::SharedValue;
/// let mut bytes = Vec::new();
/// "hello".to_owned().encode(&mut bytes);
/// assert_eq!(String::decode(&bytes).as_deref(), Some("hello"));
/// ```
pub trait SharedValue: Sized + Send + Sync + 'static {
    /// Names the type and its encoding; a record with another tag is not decoded (a reader of
    /// another type, or of an older encoding, fetches for itself).
    const TAG: &'static str;

    /// Appends the value's encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The value encoded in `bytes`, or `None` if they are not an encoding of this type.
    fn decode(bytes: &[u8]) -> Option<Self>;

    /// True for a value that must not leave the process unless the read opts in (a
    /// SecureString, a secret). False by default.
    fn is_secret(&self) -> bool {
        false
    }
}

/// How values of one type travel through a tier: the parts of a [`SharedValue`] as plain
/// functions, for a type that cannot implement it where it is cached (a type of another crate,
/// such as a DynamoDB item's map); see [`Cache::get_or_fetch_shared_with`](crate::Cache).
///
/// ```
/// use lambda_cache_core::shared::Codec;
/// let codec: Codec<String> = Codec::of();
/// let mut bytes = Vec::new();
/// (codec.encode)(&"x".to_owned(), &mut bytes);
/// assert_eq!((codec.decode)(&bytes).as_deref(), Some("x"));
/// ```
pub struct Codec<V> {
    /// As [`SharedValue::TAG`].
    pub tag: &'static str,
    /// As [`SharedValue::encode`].
    pub encode: fn(&V, &mut Vec<u8>),
    /// As [`SharedValue::decode`].
    pub decode: fn(&[u8]) -> Option<V>,
    /// As [`SharedValue::is_secret`].
    pub is_secret: fn(&V) -> bool,
}

impl<V> Clone for Codec<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Codec<V> {}

impl<V> fmt::Debug for Codec<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec").field("tag", &self.tag).finish()
    }
}

impl<V: SharedValue> Codec<V> {
    /// The codec of a [`SharedValue`].
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::shared::Codec::<Vec<u8>>::of().tag, "bytes");
    /// ```
    pub fn of() -> Self {
        Self {
            tag: V::TAG,
            encode: V::encode,
            decode: V::decode,
            is_secret: V::is_secret,
        }
    }
}

impl SharedValue for String {
    const TAG: &'static str = "string";

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

impl SharedValue for Vec<u8> {
    const TAG: &'static str = "bytes";

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(bytes.to_vec())
    }
}

/// A record as a tier returns it: its bytes and the time it has left before the tier drops it.
///
/// ```
/// use std::time::Duration;
/// let r = lambda_cache_core::TierRecord { bytes: vec![1], remaining: Duration::from_secs(3) };
/// assert_eq!(r.remaining.as_secs(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierRecord {
    /// The record, as written.
    pub bytes: Vec<u8>,
    /// Its remaining time to live in the tier (Redis `PTTL`).
    pub remaining: Duration,
}

/// A shared tier's failure: the call and the reason (a timeout, a refused connection, an
/// error reply). Never holds a value.
///
/// ```
/// let e = lambda_cache_core::TierError::new("read", "timed out after 50ms");
/// assert_eq!(e.to_string(), "shared tier read: timed out after 50ms");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierError {
    call: &'static str,
    reason: String,
}

impl TierError {
    /// The failure of `call` (read, lease, write) for `reason`.
    ///
    /// ```
    /// let e = lambda_cache_core::TierError::new("lease", "connection refused");
    /// # let _ = e;
    /// ```
    pub fn new(call: &'static str, reason: impl Into<String>) -> Self {
        Self {
            call,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for TierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shared tier {}: {}", self.call, self.reason)
    }
}

impl std::error::Error for TierError {}

/// How long a lease is held and how long, and how often, the others look for its value.
///
/// The defaults outlast the AWS SDKs' standard retries (3 attempts, up to 1 s then 2 s of
/// backoff between them, each attempt a slow backend's second or two): a holder slowed by a
/// throttled or loaded backend is waited for, not raced.
///
/// ```
/// let s = lambda_cache_core::LeaseSettings::default();
/// assert!(s.poll < s.wait && s.wait <= s.hold);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The lease's time to live: past it another cache may take it (its holder died, froze
    /// with its environment, or is slower than this). Default 10 s.
    pub hold: Duration,
    /// A waiter's deadline: how long a cache that found the lease taken looks for the holder's
    /// value (taking the lease itself as soon as it comes free) before it fetches for itself.
    /// Default 10 s; give a function with a shorter timeout a shorter deadline.
    pub wait: Duration,
    /// How often it looks. Default 25 ms; zero does not wait (it would never end).
    pub poll: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            hold: Duration::from_secs(10),
            wait: Duration::from_secs(10),
            poll: Duration::from_millis(25),
        }
    }
}

/// A lease as its holder names it: the lease's key in the tier and the holder's token (unique
/// to one miss of one cache), so that only its holder releases it.
///
/// ```
/// let lease = lambda_cache_core::Lease { key: "app:{ssm:0::/a}:l", token: "5f0c" };
/// assert_eq!(lease.token, "5f0c");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease<'a> {
    /// The lease's key.
    pub key: &'a str,
    /// The holder's token, the lease's value in the tier.
    pub token: &'a str,
}

/// Which of two records of one key is newer: a write-back replaces a record only if it
/// [supersedes](RecordOrder::supersedes) it.
///
/// ```
/// use lambda_cache_core::RecordOrder;
/// let v2 = RecordOrder { version: Some(2), read_at: 1_000 };
/// let v1_later = RecordOrder { version: Some(1), read_at: 2_000 };
/// assert!(!v1_later.supersedes(&v2), "a lower version never replaces a higher one");
/// let unversioned = RecordOrder { version: None, read_at: 3_000 };
/// assert!(unversioned.supersedes(&v2), "without versions, the later read wins");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordOrder {
    /// The backend's version number ([`Validator::version`]), if it counts them.
    pub version: Option<u64>,
    /// When the value was read from the backend, in milliseconds since the Unix epoch (the
    /// writer's clock less the value's age).
    pub read_at: u64,
}

impl RecordOrder {
    /// True if a record of this order may replace one of `held`'s: a higher version where
    /// both have one and they differ, else a read no earlier.
    ///
    /// ```
    /// use lambda_cache_core::RecordOrder;
    /// let a = RecordOrder { version: Some(4), read_at: 10 };
    /// assert!(a.supersedes(&a), "the same record may be written again");
    /// ```
    pub fn supersedes(&self, held: &Self) -> bool {
        match (self.version, held.version) {
            (Some(new), Some(old)) if new != old => new > old,
            _ => self.read_at >= held.read_at,
        }
    }
}

/// A write-back: the record, how long the tier keeps it, its order, and the lease it releases
/// in the same atomic step (if the writer holds it).
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::{Lease, RecordOrder, TierWrite};
/// let w = TierWrite {
///     key: "app:{ssm:0::/a}:v",
///     record: vec![2],
///     ttl: Duration::from_secs(60),
///     order: RecordOrder { version: None, read_at: 0 },
///     lease: Lease { key: "app:{ssm:0::/a}:l", token: "" },
/// };
/// assert_eq!(w.ttl.as_secs(), 60);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierWrite<'a> {
    /// The value's key.
    pub key: &'a str,
    /// The record.
    pub record: Vec<u8>,
    /// Its time to live in the tier.
    pub ttl: Duration,
    /// Its order, compared with the held record's in the same atomic step.
    pub order: RecordOrder,
    /// The key's lease, deleted in the same step if its value is this token; an empty token
    /// (a writer that does not hold it) leaves it alone.
    pub lease: Lease<'a>,
}

/// A token unique to one lease taking: 128 bits from the standard library's randomly seeded
/// hasher (fresh keys from the operating system per thread), a process-wide count and the
/// process id. Uniqueness is all it needs; it guards against mistakes, not attackers (whoever
/// can write the tier can write its values).
fn new_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    static TAKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = TAKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let draw = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    format!("{:016x}{:016x}{count:x}", draw(count), draw(!count))
}

/// A store shared by many caches. Each call must be bounded (a timeout inside the
/// implementation): a slow tier delays a miss by at most its timeouts, then the backend answers.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::{BoxFuture, Lease, SharedTier, TierError, TierRecord, TierWrite};
///
/// /// A tier that is always down.
/// #[derive(Debug)]
/// struct Down;
///
/// impl SharedTier for Down {
///     fn prefix(&self) -> &str { "app:" }
///     fn read<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<TierRecord>, TierError>> {
///         Box::pin(async { Err(TierError::new("read", "down")) })
///     }
///     fn lease<'a>(&'a self, _: Lease<'a>, _: Duration) -> BoxFuture<'a, Result<bool, TierError>> {
///         Box::pin(async { Err(TierError::new("lease", "down")) })
///     }
///     fn release<'a>(&'a self, _: Lease<'a>) -> BoxFuture<'a, Result<(), TierError>> {
///         Box::pin(async { Err(TierError::new("release", "down")) })
///     }
///     fn write<'a>(&'a self, _: TierWrite<'a>) -> BoxFuture<'a, Result<bool, TierError>> {
///         Box::pin(async { Err(TierError::new("write", "down")) })
///     }
///     fn pause(&self, _: Duration) -> BoxFuture<'_, ()> {
///         Box::pin(async {})
///     }
/// }
/// let cache = lambda_cache_core::Cache::builder().shared_tier(std::sync::Arc::new(Down)).build();
/// assert!(cache.is_ok());
/// ```
pub trait SharedTier: fmt::Debug + Send + Sync + 'static {
    /// Put before every key: the function's (or the group of functions') namespace.
    fn prefix(&self) -> &str;

    /// The record under `key`, if any.
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<TierRecord>, TierError>>;

    /// Takes `lease` for `hold` if no one holds it, its token as its value
    /// (`SET key token NX PX hold`); true if taken.
    fn lease<'a>(
        &'a self,
        lease: Lease<'a>,
        hold: Duration,
    ) -> BoxFuture<'a, Result<bool, TierError>>;

    /// Releases `lease` if it is still the holder's (its value is the token), atomically: a
    /// holder slower than its hold never releases the next holder's lease.
    fn release<'a>(&'a self, lease: Lease<'a>) -> BoxFuture<'a, Result<(), TierError>>;

    /// In one atomic step: stores the record unless the held one is newer (its order
    /// [supersedes](RecordOrder::supersedes) the write's and is not superseded by it), and
    /// releases the write's lease if it is still the writer's. True if the record was stored.
    fn write<'a>(&'a self, write: TierWrite<'a>) -> BoxFuture<'a, Result<bool, TierError>>;

    /// Waits `wait` (a runtime's timer; simulated time in a simulation).
    fn pause(&self, wait: Duration) -> BoxFuture<'_, ()>;

    /// The lease's settings; [`LeaseSettings::default`] unless the tier says otherwise.
    fn lease_settings(&self) -> LeaseSettings {
        LeaseSettings::default()
    }

    /// The largest record written, in bytes ([`DEFAULT_MAX_RECORD`] unless the tier says
    /// otherwise): a larger value (an S3 object, a big secret) stays in the process.
    fn max_record(&self) -> usize {
        DEFAULT_MAX_RECORD
    }

    /// The records under `keys`, in order: one round trip where the tier can (a pipeline);
    /// by default one [`SharedTier::read`] after another.
    fn read_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<TierRecord>>, TierError>> {
        Box::pin(async move {
            let mut records = Vec::with_capacity(keys.len());
            for key in keys {
                records.push(self.read(key).await?);
            }
            Ok(records)
        })
    }

    /// Takes each of `leases` for `hold` if no one holds it; which were taken, in order. By
    /// default one [`SharedTier::lease`] after another.
    fn lease_many<'a>(
        &'a self,
        leases: &'a [Lease<'a>],
        hold: Duration,
    ) -> BoxFuture<'a, Result<Vec<bool>, TierError>> {
        Box::pin(async move {
            let mut taken = Vec::with_capacity(leases.len());
            for lease in leases {
                taken.push(self.lease(*lease, hold).await?);
            }
            Ok(taken)
        })
    }

    /// Each of `writes` as [`SharedTier::write`]; which were stored, in order. By default one
    /// after another.
    fn write_many<'a>(
        &'a self,
        writes: Vec<TierWrite<'a>>,
    ) -> BoxFuture<'a, Result<Vec<bool>, TierError>> {
        Box::pin(async move {
            let mut stored = Vec::with_capacity(writes.len());
            for write in writes {
                stored.push(self.write(write).await?);
            }
            Ok(stored)
        })
    }
}

/// The largest record a tier takes by default: 512 KiB. Larger values cost the tier's network
/// and memory more than a backend read saves.
pub const DEFAULT_MAX_RECORD: usize = 512 * 1024;

/// The tier's key of `key`: the tier's prefix, the local key's service, variant and name in
/// braces (the variant length-prefixed so that no two keys meet), then a kind (`v` value, `l`
/// lease). The braces are a Redis Cluster hash tag: a value and its lease share a slot, so one
/// script may touch both on a cluster (ElastiCache Serverless is one).
///
/// ```
/// use lambda_cache_core::{Key, shared_key};
/// assert_eq!(shared_key("app:", 'v', Key::new("ssm", "/db/url")), "app:{ssm:0::/db/url}:v");
/// assert_eq!(shared_key("app:", 'l', Key::new("s", "n").variant("x:1")), "app:{s:3:x:1:n}:l");
/// ```
pub fn shared_key(prefix: &str, kind: char, key: Key<'_>) -> String {
    let variant = key.variant_str();
    format!(
        "{prefix}{{{}:{}:{variant}:{}}}:{kind}",
        key.service(),
        variant.len(),
        key.name()
    )
}

/// A record: format, tag, age and time to live at writing, validator, value.
fn encode_record<V>(
    codec: Codec<V>,
    value: &V,
    validator: &Validator,
    age: Duration,
    ttl: Duration,
) -> Vec<u8> {
    let tag = codec.tag.as_bytes();
    let mut out = Vec::with_capacity(64);
    out.push(FORMAT);
    put_field(&mut out, tag);
    out.extend_from_slice(&millis(age).to_le_bytes());
    out.extend_from_slice(&millis(ttl).to_le_bytes());
    match (validator.token(), validator.version()) {
        (Some(token), version) => {
            out.push(if version.is_some() { 2 } else { 1 });
            put_field(&mut out, token.as_bytes());
        }
        (None, _) => out.push(0),
    }
    (codec.encode)(value, &mut out);
    out
}

/// Appends `bytes` to `out` as one field (its length, 4 bytes little-endian, then the bytes): a
/// [`SharedValue`] of several parts encodes each so, and reads them back with [`take_field`].
///
/// ```
/// use lambda_cache_core::shared::{put_field, take_field};
/// let mut out = Vec::new();
/// put_field(&mut out, b"name");
/// put_field(&mut out, b"");
/// let mut rest = out.as_slice();
/// assert_eq!(take_field(&mut rest), Some(&b"name"[..]));
/// assert_eq!(take_field(&mut rest), Some(&b""[..]));
/// assert_eq!(take_field(&mut rest), None);
/// ```
pub fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..len as usize]);
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A record read back: the value, its validator, its age now, and its size (the value's
/// weight against the local byte budget).
struct Found<V> {
    value: V,
    validator: Validator,
    age: Duration,
    size: u64,
}

/// Decodes `record`; `None` for another format or tag, or bytes that do not parse.
fn decode_record<V>(codec: Codec<V>, record: &TierRecord) -> Option<Found<V>> {
    let mut rest = record.bytes.as_slice();
    if take(&mut rest, 1)? != [FORMAT] || take_field(&mut rest)? != codec.tag.as_bytes() {
        return None;
    }
    let age = Duration::from_millis(u64::from_le_bytes(take(&mut rest, 8)?.try_into().ok()?));
    let ttl = Duration::from_millis(u64::from_le_bytes(take(&mut rest, 8)?.try_into().ok()?));
    let validator = match take(&mut rest, 1)? {
        [0] => Validator::default(),
        [1] => Validator::new(std::str::from_utf8(take_field(&mut rest)?).ok()?),
        [2] => Validator::numbered(
            std::str::from_utf8(take_field(&mut rest)?)
                .ok()?
                .parse()
                .ok()?,
        ),
        _ => return None,
    };
    let value = (codec.decode)(rest)?;
    // Its age: as old as when written, plus the time it has spent in the tier.
    let age = age + ttl.saturating_sub(record.remaining);
    Some(Found {
        value,
        validator,
        age,
        size: record.bytes.len() as u64,
    })
}

fn take<'b>(rest: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

/// The next field of `rest` (see [`put_field`]), `rest` moved past it; `None` if `rest` is
/// shorter than the field says.
///
/// ```
/// let mut rest: &[u8] = &[9, 0, 0, 0, b'x'];
/// assert_eq!(lambda_cache_core::shared::take_field(&mut rest), None, "cut");
/// ```
pub fn take_field<'b>(rest: &mut &'b [u8]) -> Option<&'b [u8]> {
    let len = u32::from_le_bytes(take(rest, 4)?.try_into().ok()?);
    take(rest, usize::try_from(len).ok()?)
}

/// The write-back of `value` under `key`, releasing `lease` (one miss's or one batch's), or
/// `None` when nothing goes to the tier: a value already as old as the max age, a secret the
/// policy keeps in the process, or a record over the tier's limit. `now` is the writer's wall
/// clock, for the record's order.
fn write_back<'a, V>(
    (tier, codec, policy): (&dyn SharedTier, Codec<V>, Policy),
    (key, lease): (&'a str, Lease<'a>),
    (value, validator, age): (&V, &Validator, Duration),
    now: u64,
) -> Option<TierWrite<'a>> {
    let ttl = policy.max_age().saturating_sub(age);
    let kept_in = (codec.is_secret)(value) && !policy.shares_secrets();
    if ttl.is_zero() || kept_in {
        return None;
    }
    let record = encode_record(codec, value, validator, age, ttl);
    (record.len() <= tier.max_record()).then(|| TierWrite {
        key,
        record,
        ttl,
        order: RecordOrder {
            version: validator.version(),
            read_at: now.saturating_sub(millis(age)),
        },
        lease,
    })
}

/// One miss through the tier: the body of [`Cache::get_or_fetch_shared`]'s loader.
pub(crate) async fn through<V, E, F, Fut>(
    tier: &dyn SharedTier,
    codec: Codec<V>,
    (counters, clock): (&Counters, &crate::Clock),
    key: Key<'_>,
    policy: Policy,
    previous: Option<Entry<V>>,
    fetch: F,
) -> Result<Fetched<V>, E>
where
    V: Send + Sync + 'static,
    E: CacheError,
    F: FnOnce(Option<Entry<V>>) -> Fut,
    Fut: Future<Output = Result<Fetched<V>, E>>,
{
    let max_age = policy.max_age();
    // A forced refresh (max age zero) asks the backend; the tier cannot hold a value for zero.
    if max_age.is_zero() {
        return fetch(previous).await;
    }
    let value_key = shared_key(tier.prefix(), 'v', key);
    let failed = |error: TierError| {
        counters.shared_errors.inc();
        tracing::debug!(service = key.service(), name = %crate::shown(key.name()), %error, "shared tier");
    };
    let look = || async {
        match tier.read(&value_key).await {
            Ok(record) => Ok(record
                .as_ref()
                .and_then(|record| decode_record(codec, record))
                .filter(|found| {
                    found.age <= max_age
                        && (policy.shares_secrets() || !(codec.is_secret)(&found.value))
                })),
            Err(error) => {
                failed(error);
                Err(())
            }
        }
    };
    let answer = |found: Found<V>| {
        counters.shared_hits.inc();
        Ok(Fetched::new(found.value)
            .with_validator(found.validator)
            .with_weight(found.size)
            .with_age(found.age))
    };
    match look().await {
        Ok(Some(found)) => return answer(found),
        Ok(None) => {}
        Err(()) => return fetch(previous).await,
    }
    let settings = tier.lease_settings();
    let lease_key = shared_key(tier.prefix(), 'l', key);
    let token = new_token();
    let lease = Lease {
        key: &lease_key,
        token: &token,
    };
    let mut leased = match tier.lease(lease, settings.hold).await {
        Ok(leased) => leased,
        Err(error) => {
            failed(error);
            return fetch(previous).await;
        }
    };
    if !leased {
        counters.shared_waits.inc();
        let mut waited = Duration::ZERO;
        // Until the holder's value comes, its lease comes free (the holder failed and released
        // it, or died and let it expire: this cache takes it and fetches), or the deadline.
        while !leased && waited < settings.wait && !settings.poll.is_zero() {
            tier.pause(settings.poll).await;
            waited += settings.poll;
            match look().await {
                Ok(Some(found)) => return answer(found),
                Ok(None) => {}
                Err(()) => return fetch(previous).await,
            }
            leased = tier.lease(lease, settings.hold).await.unwrap_or(false);
            // The holder may have written its value and released the lease between the look
            // and the lease: look once more before fetching.
            if leased && let Ok(Some(found)) = look().await {
                if let Err(error) = tier.release(lease).await {
                    failed(error);
                }
                return answer(found);
            }
        }
    }
    // A writer that does not hold the lease leaves it to its holder.
    let lease = Lease {
        key: &lease_key,
        token: if leased { &token } else { "" },
    };
    let fetched = fetch(previous.clone()).await;
    let release = || async {
        if leased && let Err(error) = tier.release(lease).await {
            failed(error);
        }
    };
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(error) => {
            release().await;
            return Err(error);
        }
    };
    let (value, validator, age) = match (&fetched, &previous) {
        (
            Fetched::New {
                value,
                validator,
                age,
                ..
            },
            _,
        ) => (value, validator, *age),
        (Fetched::NotModified { validator }, Some(previous)) => (
            previous.value(),
            validator.as_ref().unwrap_or(previous.validator()),
            Duration::ZERO,
        ),
        (Fetched::NotModified { .. }, None) => {
            release().await;
            return Ok(fetched);
        }
    };
    let Some(write) = write_back(
        (tier, codec, policy),
        (&value_key, lease),
        (value, validator, age),
        clock.unix_millis(),
    ) else {
        release().await;
        return Ok(fetched);
    };
    if let Err(error) = tier.write(write).await {
        failed(error);
    }
    Ok(fetched)
}

/// One value of a batch read through a tier ([`Cache::fetch_many_shared`](crate::Cache)):
/// its name, value, validator, and age (zero from the backend, its age in the tier else).
///
/// ```
/// use std::time::Duration;
/// let v = lambda_cache_core::TierValue {
///     name: "/app/a".to_owned(),
///     value: 1_u8,
///     validator: lambda_cache_core::Validator::numbered(3),
///     age: Duration::ZERO,
/// };
/// assert_eq!(v.validator.version(), Some(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierValue<V> {
    /// The name the value was asked for by.
    pub name: String,
    /// The value.
    pub value: V,
    /// Its validator.
    pub validator: Validator,
    /// How old it is.
    pub age: Duration,
}

/// A batch's answer: the values found, and the names the backend said do not exist.
pub type ManyFound<V> = (Vec<TierValue<V>>, Vec<String>);

/// A batch's misses through the tier: the body of [`Cache::fetch_many_shared`](crate::Cache).
pub(crate) async fn through_many<V, E, F, Fut>(
    tier: &dyn SharedTier,
    codec: Codec<V>,
    counters: &Counters,
    clock: &crate::Clock,
    (service, names): (&'static str, &[&str]),
    policy: Policy,
    mut fetch: F,
) -> Result<ManyFound<V>, E>
where
    V: Send + Sync + 'static,
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<ManyFound<V>, E>>,
{
    let owned = |indices: &[usize]| -> Vec<String> {
        indices.iter().map(|&i| names[i].to_owned()).collect()
    };
    let everyone: Vec<usize> = (0..names.len()).collect();
    let max_age = policy.max_age();
    if max_age.is_zero() || names.is_empty() {
        return fetch(owned(&everyone)).await;
    }
    let failed = |error: TierError| {
        counters.shared_errors.inc();
        tracing::debug!(service, %error, "shared tier (batch)");
    };
    let key_of =
        |kind: char, i: usize| shared_key(tier.prefix(), kind, Key::new(service, names[i]));
    let value_keys: Vec<String> = (0..names.len()).map(|i| key_of('v', i)).collect();
    let lease_keys: Vec<String> = (0..names.len()).map(|i| key_of('l', i)).collect();
    let index: hashbrown::HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, i))
        .collect();
    let usable = |record: &Option<TierRecord>| {
        record
            .as_ref()
            .and_then(|record| decode_record(codec, record))
            .filter(|found| {
                found.age <= max_age
                    && (policy.shares_secrets() || !(codec.is_secret)(&found.value))
            })
    };
    let mut values: Vec<TierValue<V>> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    // Looks up `wanted` in the tier: (what is there, the rest).
    let look = |wanted: Vec<usize>| {
        let keys: Vec<String> = wanted.iter().map(|&i| value_keys[i].clone()).collect();
        async move {
            let records = tier.read_many(&keys).await.map_err(failed)?;
            let mut there = Vec::new();
            let mut rest = Vec::new();
            for (i, record) in wanted.into_iter().zip(records) {
                match usable(&record) {
                    Some(found) => {
                        counters.shared_hits.inc();
                        there.push(TierValue {
                            name: names[i].to_owned(),
                            value: found.value,
                            validator: found.validator,
                            age: found.age,
                        });
                    }
                    None => rest.push(i),
                }
            }
            Ok::<_, ()>((there, rest))
        }
    };
    let Ok((there, pending)) = look(everyone.clone()).await else {
        return fetch(owned(&everyone)).await;
    };
    values.extend(there);
    let settings = tier.lease_settings();
    let token = new_token();
    let mut held = vec![false; names.len()];
    // Takes the leases of `wanted`: (taken, not taken); on a failure, all to fetch unheld.
    let take = |wanted: Vec<usize>| {
        let token = &token;
        let lease_keys = &lease_keys;
        async move {
            let leases: Vec<Lease<'_>> = wanted
                .iter()
                .map(|&i| Lease {
                    key: &lease_keys[i],
                    token,
                })
                .collect();
            match tier.lease_many(&leases, settings.hold).await {
                Ok(taken) => {
                    let (mine, theirs): (Vec<_>, Vec<_>) =
                        wanted.iter().zip(taken).partition(|(_, taken)| *taken);
                    (
                        mine.into_iter().map(|(&i, _)| i).collect::<Vec<usize>>(),
                        theirs.into_iter().map(|(&i, _)| i).collect(),
                        true,
                    )
                }
                Err(error) => {
                    failed(error);
                    (wanted, Vec::new(), false)
                }
            }
        }
    };
    let (mut mine, mut waiting, leased) = take(pending).await;
    if leased {
        for &i in &mine {
            held[i] = true;
        }
    }
    if !waiting.is_empty() {
        counters.shared_waits.inc();
    }
    let mut waited = Duration::ZERO;
    loop {
        if !mine.is_empty() {
            let asked = std::mem::take(&mut mine);
            let answer = fetch(owned(&asked)).await;
            let lease_of = |i: usize| Lease {
                key: &lease_keys[i],
                token: if held[i] { &token } else { "" },
            };
            let (got, gone) = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    for i in asked.into_iter().filter(|&i| held[i]) {
                        if let Err(error) = tier.release(lease_of(i)).await {
                            failed(error);
                        }
                    }
                    return Err(error);
                }
            };
            let now = clock.unix_millis();
            let mut writes = Vec::new();
            let mut released = Vec::new();
            for value in &got {
                let Some(&i) = index.get(value.name.as_str()) else {
                    continue;
                };
                match write_back(
                    (tier, codec, policy),
                    (&value_keys[i], lease_of(i)),
                    (&value.value, &value.validator, value.age),
                    now,
                ) {
                    Some(write) => writes.push(write),
                    None => released.push(i),
                }
            }
            released.extend(
                gone.iter()
                    .filter_map(|name| index.get(name.as_str()).copied()),
            );
            if !writes.is_empty()
                && let Err(error) = tier.write_many(writes).await
            {
                failed(error);
            }
            for i in released.into_iter().filter(|&i| held[i]) {
                if let Err(error) = tier.release(lease_of(i)).await {
                    failed(error);
                }
            }
            values.extend(got);
            missing.extend(gone);
        }
        if waiting.is_empty() {
            break;
        }
        // Until the holders' values come, their leases come free (taken here), or the deadline.
        if waited >= settings.wait || settings.poll.is_zero() {
            mine = std::mem::take(&mut waiting);
            continue;
        }
        tier.pause(settings.poll).await;
        waited += settings.poll;
        let wanted = std::mem::take(&mut waiting);
        match look(wanted.clone()).await {
            Ok((there, rest)) => {
                values.extend(there);
                if !rest.is_empty() {
                    let leased;
                    (mine, waiting, leased) = take(rest).await;
                    if leased && !mine.is_empty() {
                        for &i in &mine {
                            held[i] = true;
                        }
                        // Their holders may have written and released between the look and
                        // the leases: look once more, and release what came.
                        if let Ok((came, still)) = look(mine.clone()).await {
                            for value in &came {
                                if let Some(&i) = index.get(value.name.as_str())
                                    && let Err(error) = tier
                                        .release(Lease {
                                            key: &lease_keys[i],
                                            token: &token,
                                        })
                                        .await
                                {
                                    failed(error);
                                }
                            }
                            values.extend(came);
                            mine = still;
                        }
                    }
                }
            }
            Err(()) => mine = wanted,
        }
    }
    Ok((values, missing))
}

/// A shared tier in memory, on a [`Clock`](crate::Clock) (feature `test-util`): for tests
/// and the fleet simulation. Records expire by the clock; `pause` is what the owner says it is
/// (advance a manual clock, or wait in simulated time); it can be taken down and counts calls.
///
/// ```
/// use std::sync::Arc;
/// use lambda_cache_core::{ManualClock, shared::MemoryTier};
/// let clock = ManualClock::new();
/// let tier = Arc::new(MemoryTier::new("app:", clock.clock()).pausing_by(clock));
/// assert_eq!(tier.calls(), 0);
/// ```
#[cfg(feature = "test-util")]
pub struct MemoryTier {
    prefix: String,
    clock: crate::Clock,
    records: parking_lot::Mutex<hashbrown::HashMap<String, Held>>,
    pause: Box<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>,
    settings: LeaseSettings,
    down: std::sync::atomic::AtomicBool,
    calls: std::sync::atomic::AtomicU64,
}

#[cfg(feature = "test-util")]
impl MemoryTier {
    /// An empty tier whose records expire by `clock`; its pause returns at once until
    /// [`MemoryTier::pausing_by`] or [`MemoryTier::pausing_with`].
    ///
    /// ```
    /// let tier = lambda_cache_core::shared::MemoryTier::new("app:", lambda_cache_core::Clock::real());
    /// # let _ = tier;
    /// ```
    pub fn new(prefix: &str, clock: crate::Clock) -> Self {
        Self {
            prefix: prefix.to_owned(),
            clock,
            records: parking_lot::Mutex::default(),
            pause: Box::new(|_| Box::pin(async {})),
            settings: LeaseSettings::default(),
            down: std::sync::atomic::AtomicBool::new(false),
            calls: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Pauses by advancing `clock` (a test with one task).
    ///
    /// ```
    /// let clock = lambda_cache_core::ManualClock::new();
    /// let tier = lambda_cache_core::shared::MemoryTier::new("", clock.clock()).pausing_by(clock);
    /// # let _ = tier;
    /// ```
    #[must_use]
    pub fn pausing_by(self, clock: crate::ManualClock) -> Self {
        self.pausing_with(move |wait| {
            clock.advance(wait);
            Box::pin(async {})
        })
    }

    /// Pauses with `pause` (a simulation's timer).
    ///
    /// ```
    /// let tier = lambda_cache_core::shared::MemoryTier::new("", lambda_cache_core::Clock::real())
    ///     .pausing_with(|_| Box::pin(async {}));
    /// # let _ = tier;
    /// ```
    #[must_use]
    pub fn pausing_with(
        mut self,
        pause: impl Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Self {
        self.pause = Box::new(pause);
        self
    }

    /// The lease settings to report.
    ///
    /// ```
    /// use lambda_cache_core::{LeaseSettings, shared::MemoryTier};
    /// let tier = MemoryTier::new("", lambda_cache_core::Clock::real()).with_lease(LeaseSettings::default());
    /// # let _ = tier;
    /// ```
    #[must_use]
    pub fn with_lease(mut self, settings: LeaseSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Takes the tier down (every call fails) or brings it back.
    ///
    /// ```
    /// let tier = lambda_cache_core::shared::MemoryTier::new("", lambda_cache_core::Clock::real());
    /// tier.set_down(true);
    /// ```
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::Relaxed);
    }

    /// Calls made (read, lease, write), failed ones included.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::shared::MemoryTier::new("", lambda_cache_core::Clock::real()).calls(), 0);
    /// ```
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One call: counted, refused while the tier is down, run on the records with the expired
    /// ones dropped.
    fn call<T>(
        &self,
        call: &'static str,
        body: impl FnOnce(&mut hashbrown::HashMap<String, Held>, crate::Instant) -> T,
    ) -> Result<T, TierError> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(TierError::new(call, "connection refused"));
        }
        let now = self.clock.now();
        let mut records = self.records.lock();
        records.retain(|_, held| held.expires > now);
        Ok(body(&mut records, now))
    }
}

/// A record or lease in a [`MemoryTier`]: a lease's bytes are its token, and it has no order.
#[cfg(feature = "test-util")]
struct Held {
    bytes: Vec<u8>,
    expires: crate::Instant,
    order: Option<RecordOrder>,
}

/// Deletes `lease` if its token is the one held (and not empty).
#[cfg(feature = "test-util")]
fn release_if_held(records: &mut hashbrown::HashMap<String, Held>, lease: Lease<'_>) {
    let held = records
        .get(lease.key)
        .is_some_and(|held| held.order.is_none() && held.bytes == lease.token.as_bytes());
    if held && !lease.token.is_empty() {
        records.remove(lease.key);
    }
}

#[cfg(feature = "test-util")]
impl fmt::Debug for MemoryTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTier")
            .field("prefix", &self.prefix)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "test-util")]
impl SharedTier for MemoryTier {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<TierRecord>, TierError>> {
        let record = self.call("read", |records, now| {
            records
                .get(key)
                .filter(|held| held.order.is_some())
                .map(|held| TierRecord {
                    bytes: held.bytes.clone(),
                    remaining: held.expires.saturating_duration_since(now),
                })
        });
        Box::pin(async move { record })
    }

    fn lease<'a>(
        &'a self,
        lease: Lease<'a>,
        hold: Duration,
    ) -> BoxFuture<'a, Result<bool, TierError>> {
        let taken = self.call("lease", |records, now| {
            if records.contains_key(lease.key) {
                return false;
            }
            records.insert(
                lease.key.to_owned(),
                Held {
                    bytes: lease.token.as_bytes().to_vec(),
                    expires: now + hold,
                    order: None,
                },
            );
            true
        });
        Box::pin(async move { taken })
    }

    fn release<'a>(&'a self, lease: Lease<'a>) -> BoxFuture<'a, Result<(), TierError>> {
        let released = self.call("release", |records, _| release_if_held(records, lease));
        Box::pin(async move { released })
    }

    fn write<'a>(&'a self, write: TierWrite<'a>) -> BoxFuture<'a, Result<bool, TierError>> {
        let written = self.call("write", |records, now| {
            let newer = records
                .get(write.key)
                .and_then(|held| held.order)
                .is_none_or(|held| write.order.supersedes(&held));
            if newer {
                records.insert(
                    write.key.to_owned(),
                    Held {
                        bytes: write.record,
                        expires: now + write.ttl,
                        order: Some(write.order),
                    },
                );
            }
            release_if_held(records, write.lease);
            newer
        });
        Box::pin(async move { written })
    }

    fn pause(&self, wait: Duration) -> BoxFuture<'_, ()> {
        (self.pause)(wait)
    }

    fn lease_settings(&self) -> LeaseSettings {
        self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_older_by_its_time_in_the_tier() {
        let bytes = encode_record(
            Codec::of(),
            &"v".to_owned(),
            &Validator::from(7_i64),
            Duration::from_secs(2),
            Duration::from_secs(60),
        );
        let found = decode_record(
            Codec::<String>::of(),
            &TierRecord {
                bytes,
                remaining: Duration::from_secs(45),
            },
        )
        .unwrap();
        assert_eq!(found.value, "v");
        assert_eq!(found.validator.token(), Some("7"));
        assert_eq!(found.validator.version(), Some(7), "still a version number");
        assert_eq!(found.age, Duration::from_secs(17));
    }

    #[test]
    fn another_tag_format_or_cut_record_is_not_decoded() {
        let bytes = encode_record(
            Codec::of(),
            &b"v".to_vec(),
            &Validator::default(),
            Duration::ZERO,
            Duration::from_secs(1),
        );
        let record = |bytes: Vec<u8>| TierRecord {
            bytes,
            remaining: Duration::ZERO,
        };
        assert!(decode_record(Codec::<Vec<u8>>::of(), &record(bytes.clone())).is_some());
        assert!(decode_record(Codec::<String>::of(), &record(bytes.clone())).is_none());
        let mut other_format = bytes.clone();
        other_format[0] = FORMAT + 1;
        assert!(decode_record(Codec::<Vec<u8>>::of(), &record(other_format)).is_none());
        for cut in 0..bytes.len() - 1 {
            assert!(
                decode_record(Codec::<Vec<u8>>::of(), &record(bytes[..cut].to_vec())).is_none(),
                "{cut}"
            );
        }
    }
}
