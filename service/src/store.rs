//! A file-backed key/value store, and its shadow for tagged traffic.
//!
//! The store is an append-only log, one record per line:
//! `key<TAB>value-in-hex<TAB>tag`, written with one `write` per record under
//! a lock and fsync-free (this is a course, not a database). Reading a key
//! scans for its last record. [`Stores`] holds two of them, the real one and
//! the shadow, and picks by the tag the running G carries
//! ([`crate::tagging::current_tag`]): a write made by any G of a tagged
//! request, on any hop, lands in the shadow; an untagged write lands in the
//! real one. The choice is made inside the store layer, not by each route,
//! so a route cannot forget it (the shadow-table routing of full-link load
//! testing sits in the data-access layer for the same reason).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::tagging;
use crate::traceparent::hex;

/// One append-only log file.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    file: Mutex<File>,
}

impl Store {
    /// Opens (creating) the log at `path`.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Store> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Store {
            path,
            file: Mutex::new(file),
        })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `key = value`, recording `tag` (empty for real traffic).
    pub fn put(&self, key: &str, value: &[u8], tag: &str) -> io::Result<()> {
        if key.is_empty() || key.bytes().any(|b| b.is_ascii_control() || b == b'\t') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad key"));
        }
        let line = format!("{key}\t{}\t{tag}\n", hex(value));
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(line.as_bytes())
    }

    /// Every record: (key, value, tag), oldest first.
    pub fn records(&self) -> io::Result<Vec<(String, Vec<u8>, String)>> {
        let _g = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for line in BufReader::new(File::open(&self.path)?).lines() {
            let line = line?;
            let mut parts = line.splitn(3, '\t');
            let (Some(k), Some(v), Some(t)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad record {line:?}"),
                ));
            };
            let value = (0..v.len() / 2)
                .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            out.push((k.to_string(), value, t.to_string()));
        }
        Ok(out)
    }

    /// The last value written for `key`.
    pub fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self
            .records()?
            .into_iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v))
    }
}

/// The real store and its shadow.
#[derive(Debug)]
pub struct Stores {
    /// Where untagged writes go.
    pub real: Store,
    /// Where tagged (load-test) writes go.
    pub shadow: Store,
}

impl Stores {
    /// `real.log` and `shadow.log` in `dir` (created if missing).
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Stores> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        Ok(Stores {
            real: Store::open(dir.join("real.log"))?,
            shadow: Store::open(dir.join("shadow.log"))?,
        })
    }

    /// The store the running G's traffic belongs in, and its tag.
    pub fn for_current(&self) -> (&Store, String) {
        match tagging::current_tag() {
            Some(tag) => (&self.shadow, tag),
            None => (&self.real, String::new()),
        }
    }

    /// Writes into the store the running G's traffic belongs in.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("stores-doc-{}", std::process::id()));
    /// let _ = std::fs::remove_dir_all(&dir);
    /// let s = std::sync::Arc::new(service::store::Stores::open(&dir).unwrap());
    /// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
    /// rt.block_on(async { s.put("k", b"real").unwrap() });
    /// let s2 = s.clone();
    /// rt.block_on(runtime::with_labels(&[("load_test", "run1")], async move {
    ///     // Written from a G the tagged request spawned: still the shadow.
    ///     runtime::spawn(async move { s2.put("k", b"test").unwrap() }).await.unwrap()
    /// }));
    /// assert_eq!(s.real.get("k").unwrap().unwrap(), b"real");
    /// assert_eq!(s.shadow.get("k").unwrap().unwrap(), b"test");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn put(&self, key: &str, value: &[u8]) -> io::Result<()> {
        let (store, tag) = self.for_current();
        store.put(key, value, &tag)
    }

    /// Reads from the store the running G's traffic belongs in (a load
    /// test reads its own writes, never real data it did not write).
    pub fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.for_current().0.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Stores::open(&dir).unwrap();
        s.real.put("a", b"\x00\xff\n", "").unwrap();
        s.real.put("a", b"two", "").unwrap();
        assert_eq!(s.real.get("a").unwrap().unwrap(), b"two");
        assert_eq!(s.real.records().unwrap().len(), 2);
        assert!(s.real.put("a\tb", b"", "").is_err());
        assert!(s.real.put("", b"", "").is_err());
        assert_eq!(s.shadow.records().unwrap().len(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
