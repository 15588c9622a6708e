//! The incremental position of one poller resource (a tenant's Shopify orders, its WooCommerce
//! customers, …): the latest version stamp seen and the object ids seen at exactly that instant.
//!
//! Platforms filter by "updated at or after" with a resolution of one second, so re-reading from
//! the stamp itself is the only way not to miss an object updated in the same second as the last
//! one seen. The ids at that instant tell which of the re-read objects were already filed: an
//! object is new when its stamp is later than the cursor, or equal to it with an id not in the set.
//!
//! The cursor is a small JSON file, `<platform>.<tenant>.<resource>.json` in the directory the
//! caller passes, replaced atomically (write to a temporary file, fsync, rename, fsync the
//! directory), and written only after everything the poll read is durable on the log.

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::PollError;

/// See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The latest version stamp seen, in milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
    /// The same stamp as the platform wrote it (for people reading the file).
    pub updated_at: String,
    /// The ids of the objects seen at exactly `updated_at_ms`.
    pub ids: BTreeSet<String>,
}

impl Cursor {
    /// True when the object `id` at version `stamp_ms` was already filed by an earlier poll.
    pub fn seen(cursor: Option<&Cursor>, stamp_ms: i64, id: &str) -> bool {
        cursor.is_some_and(|c| {
            stamp_ms < c.updated_at_ms || (stamp_ms == c.updated_at_ms && c.ids.contains(id))
        })
    }

    /// Take `id` at `stamp_ms` into account.
    pub fn advance(cursor: &mut Option<Cursor>, stamp_ms: i64, stamp_text: &str, id: &str) {
        match cursor {
            Some(c) if stamp_ms < c.updated_at_ms => {}
            Some(c) if stamp_ms == c.updated_at_ms => {
                c.ids.insert(id.to_owned());
            }
            _ => {
                *cursor = Some(Cursor {
                    updated_at_ms: stamp_ms,
                    updated_at: stamp_text.to_owned(),
                    ids: BTreeSet::from([id.to_owned()]),
                });
            }
        }
    }
}

/// Where cursors are kept: one file per platform, tenant and resource.
#[derive(Debug, Clone)]
pub struct CursorStore {
    dir: PathBuf,
}

impl CursorStore {
    pub fn new(dir: impl Into<PathBuf>) -> CursorStore {
        CursorStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of one resource's cursor. Tenant ids become part of a file name, so only
    /// `[A-Za-z0-9._-]` is accepted (and no leading dot).
    pub fn path(&self, platform: &str, tenant: &str, resource: &str) -> Result<PathBuf, PollError> {
        let safe = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !safe(tenant) {
            return Err(PollError::Config(format!(
                "tenant id {tenant:?} cannot name a cursor file: use letters, digits, '.', '_', '-'"
            )));
        }
        Ok(self
            .dir
            .join(format!("{platform}.{tenant}.{resource}.json")))
    }

    /// The stored cursor, or `None` before the first successful poll.
    pub fn load(
        &self,
        platform: &str,
        tenant: &str,
        resource: &str,
    ) -> Result<Option<Cursor>, PollError> {
        let path = self.path(platform, tenant, resource)?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                PollError::Cursor(format!("{} is not a poller cursor: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PollError::Cursor(format!("{}: {e}", path.display()))),
        }
    }

    /// Replace the stored cursor atomically and durably.
    pub fn save(
        &self,
        platform: &str,
        tenant: &str,
        resource: &str,
        cursor: &Cursor,
    ) -> Result<(), PollError> {
        let path = self.path(platform, tenant, resource)?;
        let io = |e: std::io::Error| PollError::Cursor(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let tmp = path.with_extension("json.tmp");
        let mut bytes = serde_json::to_vec_pretty(cursor).expect("a cursor serialises");
        bytes.push(b'\n');
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        // The rename is durable once the directory entry is.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_instant_new_id_is_not_seen() {
        let mut c = None;
        assert!(!Cursor::seen(c.as_ref(), 1_000, "a"));
        Cursor::advance(&mut c, 1_000, "t1", "a");
        Cursor::advance(&mut c, 500, "t0", "z");
        Cursor::advance(&mut c, 1_000, "t1", "b");
        assert!(Cursor::seen(c.as_ref(), 1_000, "a"));
        assert!(Cursor::seen(c.as_ref(), 1_000, "b"));
        assert!(Cursor::seen(c.as_ref(), 999, "q"));
        assert!(!Cursor::seen(c.as_ref(), 1_000, "c"));
        assert!(!Cursor::seen(c.as_ref(), 1_001, "a"));
        Cursor::advance(&mut c, 2_000, "t2", "c");
        let c = c.unwrap();
        assert_eq!(c.updated_at_ms, 2_000);
        assert_eq!(c.ids, BTreeSet::from(["c".to_owned()]));
    }

    #[test]
    fn store_round_trips_and_refuses_path_tenants() {
        let dir = tempfile::tempdir().unwrap();
        let store = CursorStore::new(dir.path().join("cursors"));
        assert_eq!(store.load("shopify", "shop-1", "orders").unwrap(), None);
        let c = Cursor {
            updated_at_ms: 5,
            updated_at: "x".into(),
            ids: BTreeSet::from(["1".into(), "2".into()]),
        };
        store.save("shopify", "shop-1", "orders", &c).unwrap();
        assert_eq!(store.load("shopify", "shop-1", "orders").unwrap(), Some(c));
        for bad in ["", "../x", "a/b", ".hidden"] {
            assert!(store.path("shopify", bad, "orders").is_err(), "{bad:?}");
        }
    }
}
