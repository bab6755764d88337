//! The cache directory: which file holds which URI, its size, when it was last used, and a
//! byte budget kept by deleting the least recently used files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use lambda_cache_core::Instant;
use parking_lot::Mutex;

use crate::Error;

/// A cached object's local file.
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_s3::Error> {
/// let file = lambda_cache_s3::get_entry("s3://bucket-name/path/to/object.json").await?;
/// let text = std::fs::read_to_string(file.path()).expect("readable");
/// println!("{} bytes from {}", file.size(), file.uri());
/// # let _ = text;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    uri: String,
    size: u64,
    etag: Option<String>,
    last_used: Arc<AtomicU64>,
}

impl LocalFile {
    /// Where the object is on local disk (`/tmp/<entry name>` by default).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), lambda_cache_s3::Error> {
    /// let file = lambda_cache_s3::get_entry("s3://bucket-name/object.json").await?;
    /// assert!(file.path().ends_with("object.json"));
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The object's URI.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), lambda_cache_s3::Error> {
    /// let file = lambda_cache_s3::get_entry("s3://bucket-name/object.json").await?;
    /// assert_eq!(file.uri(), "s3://bucket-name/object.json");
    /// # Ok(()) }
    /// ```
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The file's size in bytes.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), lambda_cache_s3::Error> {
    /// let size = lambda_cache_s3::get_entry("s3://bucket-name/object.json").await?.size();
    /// # let _ = size;
    /// # Ok(()) }
    /// ```
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The object's ETag when downloaded.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), lambda_cache_s3::Error> {
    /// let etag = lambda_cache_s3::get_entry("s3://bucket-name/object.json").await?.etag().map(str::to_owned);
    /// # let _ = etag;
    /// # Ok(()) }
    /// ```
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// Marks the file used now, for the budget's least-recently-used order.
    pub(crate) fn touch(&self, now: Instant) {
        self.last_used.store(now.as_nanos(), Ordering::Relaxed);
    }
}

/// One tracked file.
struct Tracked {
    uri: String,
    entry_name: String,
    size: u64,
    /// A download completed into the file (an empty object has size 0 and is still held).
    downloaded: bool,
    last_used: Arc<AtomicU64>,
}

/// A file evicted for room: the caller drops its cache entry.
pub(crate) struct Evicted {
    pub(crate) uri: String,
    pub(crate) entry_name: String,
}

/// The cache directory and its budget.
pub(crate) struct Disk {
    dir: PathBuf,
    budget: u64,
    files: Mutex<Files>,
}

#[derive(Default)]
struct Files {
    /// By file name; also the claims: a name belongs to the first URI that asked for it.
    by_name: HashMap<String, Tracked>,
    used: u64,
}

impl Disk {
    pub(crate) fn new(dir: PathBuf, budget: u64) -> Self {
        Self {
            dir,
            budget,
            files: Mutex::new(Files::default()),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn budget(&self) -> u64 {
        self.budget
    }

    pub(crate) fn used(&self) -> u64 {
        self.files.lock().used
    }

    /// Claims `entry_name` for `uri`.
    ///
    /// # Errors
    /// [`Error::FileConflict`] if another URI holds the name.
    pub(crate) fn claim(&self, uri: &str, entry_name: &str) -> Result<(), Error> {
        let mut files = self.files.lock();
        match files.by_name.get(entry_name) {
            Some(tracked) if tracked.uri != uri => Err(Error::FileConflict {
                path: self.dir.join(entry_name),
                holder: tracked.uri.clone(),
                uri: uri.to_owned(),
            }),
            Some(_) => Ok(()),
            None => {
                files.by_name.insert(
                    entry_name.to_owned(),
                    Tracked {
                        uri: uri.to_owned(),
                        entry_name: entry_name.to_owned(),
                        size: 0,
                        downloaded: false,
                        last_used: Arc::new(AtomicU64::new(0)),
                    },
                );
                Ok(())
            }
        }
    }

    /// Makes room for `size` bytes under `entry_name` (replacing what it holds now), deleting
    /// the least recently used other files as needed.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `size` exceeds the whole budget (nothing is deleted then).
    pub(crate) fn make_room(
        &self,
        uri: &str,
        entry_name: &str,
        size: u64,
    ) -> Result<Vec<Evicted>, Error> {
        if size > self.budget {
            return Err(Error::TooLarge {
                uri: uri.to_owned(),
                size,
                budget: self.budget,
            });
        }
        let mut files = self.files.lock();
        let current = files.by_name.get(entry_name).map_or(0, |t| t.size);
        let mut evicted = Vec::new();
        while files.used - current + size > self.budget {
            let victim = files
                .by_name
                .iter()
                .filter(|(name, t)| name.as_str() != entry_name && t.downloaded)
                .min_by_key(|(_, t)| t.last_used.load(Ordering::Relaxed))
                .map(|(name, _)| name.clone());
            let Some(victim) = victim else { break };
            if let Some(tracked) = files.by_name.remove(&victim) {
                files.used -= tracked.size;
                // A file already gone is as good as deleted.
                let _ = std::fs::remove_file(self.dir.join(&victim));
                evicted.push(Evicted {
                    uri: tracked.uri,
                    entry_name: tracked.entry_name,
                });
            }
        }
        Ok(evicted)
    }

    /// Records that `entry_name` now holds `size` bytes downloaded for `uri`, and returns the
    /// file's record.
    pub(crate) fn stored(
        &self,
        uri: &str,
        entry_name: &str,
        size: u64,
        etag: Option<String>,
        now: Instant,
    ) -> LocalFile {
        let mut files = self.files.lock();
        let Files { by_name, used } = &mut *files;
        let tracked = by_name
            .entry(entry_name.to_owned())
            .or_insert_with(|| Tracked {
                uri: uri.to_owned(),
                entry_name: entry_name.to_owned(),
                size: 0,
                downloaded: false,
                last_used: Arc::new(AtomicU64::new(0)),
            });
        *used = *used - tracked.size + size;
        tracked.size = size;
        tracked.downloaded = true;
        tracked.last_used.store(now.as_nanos(), Ordering::Relaxed);
        LocalFile {
            path: self.dir.join(entry_name),
            uri: uri.to_owned(),
            size,
            etag,
            last_used: Arc::clone(&tracked.last_used),
        }
    }

    /// True if the file of `entry_name` is on disk and tracked with a size.
    pub(crate) fn holds(&self, entry_name: &str) -> bool {
        self.files
            .lock()
            .by_name
            .get(entry_name)
            .is_some_and(|t| t.downloaded)
            && self.dir.join(entry_name).is_file()
    }
}
