//! The store: the values held, in a fixed array of buckets that readers walk without a lock.
//!
//! Each bucket holds an immutable chain of nodes behind an atomic pointer (`arc-swap`). A reader
//! hashes the key's name, loads its bucket's chain and walks it: no lock, no allocation, and no
//! write to memory that other readers share but the value's reference count. A writer, under
//! the one writers' lock, builds the bucket's new chain (the new node, then copies of the nodes
//! that stood before the replaced one, sharing the rest) and stores it: the cost of a write is
//! the length of one chain, whatever the number of keys held. The array is sized from the
//! capacity when the cache is built (a power of two, at least the capacity), so chains stay
//! short and no write ever copies the whole.
//!
//! Every entry of a key (whatever its value type, raw or derived) hashes to one bucket, so
//! invalidating a key reads one chain. Eviction samples: it picks among a few random entries
//! held (all of them up to [`EXACT_LRU`]) the one read least recently, never the key being
//! stored and never one being fetched; only when [`ROUNDS`] draws found nothing else (most
//! entries being fetched) does it compare them all.

use std::any::Any;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use hashbrown::{DefaultHashBuilder, HashMap};
use indexmap::IndexSet;
use parking_lot::{Mutex, MutexGuard};

use super::flight::Flight;
use crate::clock::Instant;
use crate::key::{Key, Lookup, OwnedKey};

/// A value as the store holds it: an `Arc<Inner<V>>` for the `V` whose type id is in its key.
pub(super) type Erased = Arc<dyn Any + Send + Sync>;

/// Last-access times closer than this are not rewritten: a hit then writes no shared memory.
const TOUCH_GRANULARITY_NANOS: u64 = 1_000_000;

/// Up to this many entries, eviction compares them all (exact least recently used).
const EXACT_LRU: usize = 16;

/// Beyond [`EXACT_LRU`] entries, eviction compares this many drawn at random.
const SAMPLES: usize = 8;

/// Draws of [`SAMPLES`] an eviction makes before it compares every entry (when all it drew
/// were excluded: being fetched, or the key being stored).
const ROUNDS: usize = 4;

/// The fewest buckets a store has.
const MIN_BUCKETS: usize = 16;

/// A value held, immutable once stored but for its last-access time: a refresh stores a new one.
pub(super) struct Stored {
    pub(super) entry: Erased,
    pub(super) fetched_at: Instant,
    /// The number of the fetch that produced (or last renewed) it.
    pub(super) flight: u64,
    pub(super) weight: u64,
    /// This entry's share of max_age removed by jitter, in 1/65536.
    pub(super) shrink: u64,
    /// For eviction; rewritten at most once per [`TOUCH_GRANULARITY_NANOS`].
    last_access: AtomicU64,
}

impl Stored {
    pub(super) fn new(
        entry: Erased,
        fetched_at: Instant,
        flight: u64,
        weight: u64,
        shrink: u64,
        now: Instant,
    ) -> Self {
        Self {
            entry,
            fetched_at,
            flight,
            weight,
            shrink,
            last_access: AtomicU64::new(now.as_nanos()),
        }
    }

    /// Records a read at `now`, writing only if the last one is older than the granularity.
    #[inline]
    pub(super) fn touch(&self, now: Instant) {
        let now = now.as_nanos();
        let last = self.last_access.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= TOUCH_GRANULARITY_NANOS {
            self.last_access.store(now, Ordering::Relaxed);
        }
    }

    fn last_access(&self) -> u64 {
        self.last_access.load(Ordering::Relaxed)
    }

    fn copy(&self) -> Self {
        Self {
            entry: Arc::clone(&self.entry),
            fetched_at: self.fetched_at,
            flight: self.flight,
            weight: self.weight,
            shrink: self.shrink,
            last_access: AtomicU64::new(self.last_access()),
        }
    }
}

/// One link of a bucket's chain. Immutable once published: a write builds new nodes.
struct Node {
    hash: u64,
    key: OwnedKey,
    stored: Stored,
    next: Option<Arc<Node>>,
}

/// The values held.
pub(super) struct Store {
    buckets: Box<[ArcSwapOption<Node>]>,
    mask: u64,
    hasher: DefaultHashBuilder,
    writer: Mutex<Writer>,
}

/// What only writers touch, under the store's lock.
#[derive(Default)]
pub(super) struct Writer {
    /// Every key held, for drawing eviction candidates by position.
    keys: IndexSet<OwnedKey, DefaultHashBuilder>,
    /// The fetches under way (a key may have one with or without a value held).
    pub(super) flights: HashMap<OwnedKey, Flight>,
    /// Sum of the weights of the values held.
    weight: u64,
    /// What readers see changed under this lock pass.
    changed: bool,
    /// The state of the eviction draw (xorshift).
    draw: u64,
}

/// A store's writers' lock, held.
pub(super) type Locked<'a> = MutexGuard<'a, Writer>;

impl Store {
    pub(super) fn new(capacity: usize) -> Self {
        let buckets = capacity.next_power_of_two().max(MIN_BUCKETS);
        Self {
            buckets: (0..buckets).map(|_| ArcSwapOption::empty()).collect(),
            mask: (buckets - 1) as u64,
            hasher: DefaultHashBuilder::default(),
            writer: Mutex::new(Writer {
                draw: 0x2545_f491_4f6c_dd1d,
                ..Writer::default()
            }),
        }
    }

    /// The bucket hash of a key: its name and the lengths of its service and variant (every
    /// entry under one key, whatever its type, shares a bucket).
    #[inline]
    fn hash(&self, key: &Key<'_>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(key.name().as_bytes());
        hasher.write_usize(key.service().len() ^ (key.variant_str().len() << 8));
        hasher.finish()
    }

    #[inline]
    fn bucket(&self, hash: u64) -> &ArcSwapOption<Node> {
        // The mask keeps the index below the array's length, itself a usize.
        #[allow(clippy::cast_possible_truncation)]
        &self.buckets[(hash & self.mask) as usize]
    }

    /// Reads the value under `lookup` without a lock: `f` sees it, and its answer is returned.
    #[inline]
    pub(super) fn read<R>(&self, lookup: &Lookup<'_>, f: impl FnOnce(&Stored) -> R) -> Option<R> {
        let hash = self.hash(&lookup.key);
        let chain = self.bucket(hash).load();
        let mut node = chain.as_deref();
        while let Some(n) = node {
            if n.hash == hash && lookup.matches(&n.key) {
                return Some(f(&n.stored));
            }
            node = n.next.as_deref();
        }
        None
    }

    /// Takes the writers' lock.
    pub(super) fn lock(&self) -> Locked<'_> {
        self.writer.lock()
    }

    /// The value under `lookup`, for a writer (who holds the lock, so the chain stays put).
    pub(super) fn held(&self, _: &Writer, lookup: &Lookup<'_>) -> Option<HeldRef> {
        let hash = self.hash(&lookup.key);
        let mut node = self.bucket(hash).load_full();
        while let Some(n) = node {
            if n.hash == hash && lookup.matches(&n.key) {
                return Some(HeldRef(n));
            }
            node = n.next.clone();
        }
        None
    }

    /// Stores `stored` under `lookup` in place of any value held there; returns the one
    /// replaced. `owned` is the key's owned form if the caller has one.
    pub(super) fn put(
        &self,
        writer: &mut Writer,
        lookup: &Lookup<'_>,
        owned: Option<OwnedKey>,
        stored: Stored,
    ) -> Option<HeldRef> {
        let hash = self.hash(&lookup.key);
        let bucket = self.bucket(hash);
        let (rest, old) = without(bucket.load_full(), hash, lookup);
        let key = match &old {
            Some(old) => old.key.clone(),
            None => {
                let key = owned.unwrap_or_else(|| OwnedKey::from_lookup(lookup));
                writer.keys.insert(key.clone());
                key
            }
        };
        writer.weight += stored.weight;
        if let Some(old) = &old {
            writer.weight -= old.stored.weight;
        }
        bucket.store(Some(Arc::new(Node {
            hash,
            key,
            stored,
            next: rest,
        })));
        writer.changed = true;
        old.map(HeldRef)
    }

    /// Removes the value under `lookup`; returns it.
    pub(super) fn remove(&self, writer: &mut Writer, lookup: &Lookup<'_>) -> Option<HeldRef> {
        let hash = self.hash(&lookup.key);
        let bucket = self.bucket(hash);
        let (rest, old) = without(bucket.load_full(), hash, lookup);
        let old = old?;
        bucket.store(rest);
        writer.keys.swap_remove(&old.key);
        writer.weight -= old.stored.weight;
        writer.changed = true;
        Some(HeldRef(old))
    }

    /// Removes every entry under `key`, of whatever value type; returns how many.
    pub(super) fn remove_key(&self, writer: &mut Writer, key: &Key<'_>) -> usize {
        let hash = self.hash(key);
        let bucket = self.bucket(hash);
        let mut doomed = Vec::new();
        let mut node = bucket.load_full();
        while let Some(n) = node {
            if n.hash == hash && n.key.matches(key) {
                doomed.push(n.key.clone());
            }
            node = n.next.clone();
        }
        for owned in &doomed {
            self.remove(writer, &owned.as_lookup());
        }
        doomed.len()
    }

    /// Removes every entry of `service` whose name and variant `matches` accepts: one pass
    /// over the keys held. Returns how many.
    pub(super) fn remove_where(
        &self,
        writer: &mut Writer,
        service: &str,
        matches: &dyn Fn(&str, &str) -> bool,
    ) -> usize {
        let doomed: Vec<OwnedKey> = writer
            .keys
            .iter()
            .filter(|key| key.service() == service && matches(key.name(), key.variant()))
            .cloned()
            .collect();
        for owned in &doomed {
            self.remove(writer, &owned.as_lookup());
        }
        // A fetch under way for a matching key is detached: dropping its flight wakes its
        // waiters, who look again (and fetch anew), and its leader stores nothing.
        writer
            .flights
            .retain(|key, _| !(key.service() == service && matches(key.name(), key.variant())));
        doomed.len()
    }

    /// Removes every entry; returns how many.
    pub(super) fn clear(&self, writer: &mut Writer) -> usize {
        let removed = writer.keys.len();
        for bucket in &self.buckets {
            bucket.store(None);
        }
        writer.keys = IndexSet::default();
        writer.weight = 0;
        writer.changed |= removed > 0;
        removed
    }

    /// Chooses an entry to evict: the least recently read of those drawn (all, up to
    /// [`EXACT_LRU`] entries), never `keep` and never one being fetched.
    pub(super) fn victim(&self, writer: &mut Writer, keep: &Lookup<'_>) -> Option<OwnedKey> {
        let held = writer.keys.len();
        let oldest = |writer: &Writer, candidates: &mut dyn Iterator<Item = &OwnedKey>| {
            candidates
                .filter(|key| !writer.flights.contains_key(*key) && !keep.matches(key))
                .filter_map(|key| {
                    let last = self.held(writer, &key.as_lookup())?;
                    Some((last.0.stored.last_access(), key.clone()))
                })
                .min_by_key(|(last, _)| *last)
                .map(|(_, key)| key)
        };
        if held > EXACT_LRU {
            for _ in 0..ROUNDS {
                let mut drawn = [0_usize; SAMPLES];
                for slot in &mut drawn {
                    *slot = writer.next_draw(held);
                }
                let writer: &Writer = writer;
                let found = oldest(
                    writer,
                    &mut drawn.iter().filter_map(|&i| writer.keys.get_index(i)),
                );
                if found.is_some() {
                    return found;
                }
            }
        }
        // Few entries, or every one drawn in every round was excluded (most entries being
        // fetched): compare them all.
        oldest(writer, &mut writer.keys.iter())
    }

    /// How many values are held.
    pub(super) fn len(writer: &Writer) -> usize {
        writer.keys.len()
    }

    /// The summed weights of the values held.
    pub(super) fn weight(writer: &Writer) -> u64 {
        writer.weight
    }

    /// True (once) if what readers see changed since the last call.
    pub(super) fn take_changed(writer: &mut Writer) -> bool {
        std::mem::take(&mut writer.changed)
    }
}

impl Writer {
    /// A position below `held`, from the xorshift draw.
    fn next_draw(&mut self, held: usize) -> usize {
        let mut x = self.draw;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.draw = x;
        // The draw is reduced below `held`, itself a usize.
        #[allow(clippy::cast_possible_truncation)]
        let position = (x % held as u64) as usize;
        position
    }
}

/// A value held, as a writer sees it.
pub(super) struct HeldRef(Arc<Node>);

impl HeldRef {
    pub(super) fn stored(&self) -> &Stored {
        &self.0.stored
    }

    pub(super) fn key(&self) -> &OwnedKey {
        &self.0.key
    }
}

/// The chain `head` without the node of `lookup`, and that node. The nodes before it are
/// copied; those after it are shared. Unchanged (and `None`) if the key is not in the chain.
fn without(
    head: Option<Arc<Node>>,
    hash: u64,
    lookup: &Lookup<'_>,
) -> (Option<Arc<Node>>, Option<Arc<Node>>) {
    let mut before: Vec<&Arc<Node>> = Vec::new();
    let mut node = head.as_ref();
    while let Some(n) = node {
        if n.hash == hash && lookup.matches(&n.key) {
            let mut rest = n.next.clone();
            for earlier in before.iter().rev() {
                rest = Some(Arc::new(Node {
                    hash: earlier.hash,
                    key: earlier.key.clone(),
                    stored: earlier.stored.copy(),
                    next: rest,
                }));
            }
            let found = Arc::clone(n);
            return (rest, Some(found));
        }
        before.push(n);
        node = n.next.as_ref();
    }
    (head, None)
}
