//! The state store: per-record state and the update history, in SQLite.
//!
//! Every change is one transaction, so a crash leaves either the old or the new state,
//! never half of each. An update's life is recorded in phases: its *intent* (record,
//! address) before anything happens, *sent* once the connection that carries it is open
//! (the request may reach the provider from then on), and the answer. An intent still
//! present at the next start says how far the dead process got (see
//! [`StateStore::take_pending`] and `docs/recovery.md`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch (the store's time unit).
pub type Timestamp = i64;

const SCHEMA_VERSION: i64 = 2;

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The database could not be opened, read or written.
    #[error("state store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The directory could not be created.
    #[error("cannot create the state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Another engine holds the state (its lock file is locked).
    #[error(
        "another Dyntray engine is using the state in {0} (the tray app or dyntrayd run); \
         stop it first, or talk to it with `dyntrayd status`"
    )]
    Busy(PathBuf),
    /// The database was written by a newer Dyntray.
    #[error("state store {path} was written by a newer Dyntray (schema {found}); not touched")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
    },
}

/// A record that answered with a fatal error and sends nothing until the user acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    /// The provider's code (`badauth`, `nohost`, `http-401`, ...).
    pub code: String,
    /// The provider's exact words, secrets removed.
    pub answer: String,
    /// What the user should do.
    pub advice: String,
    /// When.
    pub at: Timestamp,
}

pub use crate::record::RecordState;

/// One attempt, as shown in the history view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When.
    pub at: Timestamp,
    /// The record key.
    pub record: String,
    /// The address sent, if any.
    pub address: Option<String>,
    /// The provider's answer, secrets removed.
    pub answer: String,
    /// How the engine classified it (`success`, `nochg`, `transient`, `fatal`, `protocol`).
    pub classification: String,
}

/// An update whose answer was never recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The record key.
    pub record: String,
    /// The address it was for.
    pub address: IpAddr,
    /// When it was intended.
    pub at: Timestamp,
    /// Whether its connection had opened: the provider may have it.
    pub sent: bool,
}

/// The open state database.
#[derive(Debug)]
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
}

impl StateStore {
    /// Opens (creating when missing) `<dir>/state.sqlite3`. The directory is made (or
    /// made again) owner-only, and so are the database and its journal files: the history
    /// says where this machine is.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let dir_err = |source| StateError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        crate::files::ensure_private_dir(dir).map_err(dir_err)?;
        let path = dir.join("state.sqlite3");
        create_private_file(&path).map_err(dir_err)?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut journal = path.clone().into_os_string();
            journal.push(suffix);
            crate::files::make_private(Path::new(&journal)).map_err(dir_err)?;
        }
        let conn = connect(&path)?;
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(StateError::TooNew {
                path,
                found: version,
            });
        }
        if version < 1 {
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS record_state (
                     record TEXT PRIMARY KEY,
                     state TEXT NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS history (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     at INTEGER NOT NULL,
                     record TEXT NOT NULL,
                     address TEXT,
                     answer TEXT NOT NULL,
                     classification TEXT NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS history_record ON history (record, id);
                 CREATE TABLE IF NOT EXISTS pending (
                     record TEXT PRIMARY KEY,
                     address TEXT NOT NULL,
                     at INTEGER NOT NULL
                 );
                 PRAGMA user_version = 1;
                 COMMIT;",
            )
            .map_err(err)?;
        }
        if version < 2 {
            migrate_to_2(&conn).map_err(err)?;
        }
        Ok(Self { conn, path })
    }

    /// Whether updates are paused (the user's "Pause updates").
    pub fn paused(&self) -> bool {
        self.meta(PAUSED).unwrap_or(false)
    }

    /// Whether "Go offline" is in effect.
    pub fn offline(&self) -> bool {
        self.meta(OFFLINE).unwrap_or(false)
    }

    /// Saves the paused and offline switches.
    pub fn set_switches(&mut self, paused: bool, offline: bool) -> Result<(), StateError> {
        self.set_meta(PAUSED, &paused)?;
        self.set_meta(OFFLINE, &offline)
    }

    /// A second connection to this database for [`SentMarker::mark_sent`], which runs
    /// outside the engine's task, at the moment an update's connection opens.
    pub fn sent_marker(&self) -> Result<SentMarker, StateError> {
        Ok(SentMarker {
            conn: std::sync::Mutex::new(connect(&self.path)?),
            path: self.path.clone(),
        })
    }

    /// A stored value of the engine's own (JSON), by key.
    pub fn meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                params![key],
                |row| row.get(0),
            )
            .optional()
            .ok()
            .flatten();
        json.and_then(|j| serde_json::from_str(&j).ok())
    }

    /// Stores a value of the engine's own (JSON), by key.
    pub fn set_meta<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), StateError> {
        let json = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, json],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The state of one record (default when never seen).
    pub fn record(&self, record: &str) -> Result<RecordState, StateError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM record_state WHERE record = ?1",
                params![record],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        // A row this version cannot read is treated as unknown state rather than an
        // error: the worst case is one update the provider may answer with nochg.
        Ok(json
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }

    /// Saves one record's state.
    pub fn save(&mut self, record: &str, state: &RecordState) -> Result<(), StateError> {
        let json = encode(state);
        self.conn
            .execute(
                "INSERT INTO record_state (record, state) VALUES (?1, ?2)
                 ON CONFLICT(record) DO UPDATE SET state = excluded.state",
                params![record, json],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Saves several records' states in one transaction.
    pub fn save_all(&mut self, states: &[(String, RecordState)]) -> Result<(), StateError> {
        if states.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO record_state (record, state) VALUES (?1, ?2)
                     ON CONFLICT(record) DO UPDATE SET state = excluded.state",
                )
                .map_err(err)?;
            for (record, state) in states {
                stmt.execute(params![record, encode(state)]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Records the intent to send `address` for these records, before the request goes out.
    pub fn begin(
        &mut self,
        records: &[&str],
        address: IpAddr,
        at: Timestamp,
    ) -> Result<(), StateError> {
        let tx = self.conn.transaction().map_err(|e| StateError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        for record in records {
            tx.execute(
                "INSERT OR REPLACE INTO pending (record, address, at, sent)
                 VALUES (?1, ?2, ?3, 0)",
                params![record, address.to_string(), at],
            )
            .map_err(|e| StateError::Sqlite {
                path: self.path.clone(),
                source: e,
            })?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Records the outcome of an attempt in one transaction: the new state, the history
    /// entry, and the end of the intent.
    pub fn finish(&mut self, state: &RecordState, entry: &HistoryEntry) -> Result<(), StateError> {
        let path = self.path.clone();
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO record_state (record, state) VALUES (?1, ?2)
             ON CONFLICT(record) DO UPDATE SET state = excluded.state",
            params![entry.record, encode(state)],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO history (at, record, address, answer, classification)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                entry.at,
                entry.record,
                entry.address,
                entry.answer,
                entry.classification
            ],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM pending WHERE record = ?1",
            params![entry.record],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Intents left by a process that stopped before recording their answers, each with
    /// how far it got; removes them from the store.
    pub fn take_pending(&mut self) -> Result<Vec<Pending>, StateError> {
        let path = self.path.clone();
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let pending = {
            let mut stmt = tx
                .prepare("SELECT record, address, at, sent FROM pending ORDER BY record")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, bool>(3)?,
                    ))
                })
                .map_err(err)?;
            let mut pending = Vec::new();
            for row in rows {
                let (record, address, at, sent) = row.map_err(err)?;
                if let Ok(address) = address.parse() {
                    pending.push(Pending {
                        record,
                        address,
                        at,
                        sent,
                    });
                }
            }
            pending
        };
        tx.execute("DELETE FROM pending", []).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(pending)
    }

    /// The newest `limit` history entries, newest first, for one record or all.
    pub fn history(
        &self,
        record: Option<&str>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT at, record, address, answer, classification FROM history
                 WHERE ?1 IS NULL OR record = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![record, limit], |row| {
                Ok(HistoryEntry {
                    at: row.get(0)?,
                    record: row.get(1)?,
                    address: row.get(2)?,
                    answer: row.get(3)?,
                    classification: row.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

/// The meta keys of the user's switches.
const PAUSED: &str = "paused";
const OFFLINE: &str = "offline";

/// Version 1 kept the paused and offline switches as two bits of a counter in a
/// reserved record row.
const V1_FLAGS_ROW: &str = "__engine_flags";

/// Version 2, in one transaction: an intent records whether its request may have left
/// (intents of version 1 are taken as sent, the cautious reading: settled at start); a
/// `meta` table holds the engine's own values; the switches move there from the
/// reserved row, which goes.
fn migrate_to_2(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "BEGIN;
         ALTER TABLE pending ADD COLUMN sent INTEGER NOT NULL DEFAULT 1;
         CREATE TABLE IF NOT EXISTS meta (
             key TEXT PRIMARY KEY,
             value TEXT NOT NULL
         );",
    )?;
    let moved = (|| {
        let flags: Option<String> = conn
            .query_row(
                "SELECT state FROM record_state WHERE record = ?1",
                params![V1_FLAGS_ROW],
                |row| row.get(0),
            )
            .optional()?;
        let bits = flags
            .and_then(|json| serde_json::from_str::<RecordState>(&json).ok())
            .map_or(0, |state| state.consecutive_nochg());
        for (key, on) in [(PAUSED, bits & 1 != 0), (OFFLINE, bits & 2 != 0)] {
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, on.to_string()],
            )?;
        }
        conn.execute(
            "DELETE FROM record_state WHERE record = ?1",
            params![V1_FLAGS_ROW],
        )?;
        conn.execute_batch("PRAGMA user_version = 2; COMMIT;")
    })();
    if moved.is_err() {
        let _ = conn.execute_batch("ROLLBACK;");
    }
    moved
}

/// The meta key of the random key that secret fingerprints are made with.
const FINGERPRINT_KEY: &str = "secret_fingerprint_key";

impl StateStore {
    /// A fingerprint of a secret: HMAC-SHA-256 under a random key made once for this
    /// store, 128 bits in hex. It tells whether a secret changed without storing the
    /// secret. The key lives in this database, so it is a per-installation salt: it
    /// defeats precomputed tables and makes fingerprints differ between installations,
    /// but someone holding the whole (owner-only) database could still test guesses
    /// against it, as they could against the secret file the same user owns.
    pub fn fingerprint(&mut self, secret: &crate::secrets::Secret) -> Result<String, StateError> {
        use hmac::Mac;
        let key: Vec<u8> = match self
            .meta::<String>(FINGERPRINT_KEY)
            .and_then(|hex| data_encoding::HEXLOWER.decode(hex.as_bytes()).ok())
        {
            Some(key) if key.len() == 32 => key,
            _ => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key).map_err(|e| StateError::Dir {
                    path: self.path.clone(),
                    source: std::io::Error::other(format!("no random numbers: {e}")),
                })?;
                self.set_meta(FINGERPRINT_KEY, &data_encoding::HEXLOWER.encode(&key))?;
                key
            }
        };
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| StateError::Dir {
                path: self.path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        mac.update(secret.expose().as_bytes());
        let digest = mac.finalize().into_bytes();
        Ok(data_encoding::HEXLOWER.encode(&digest[..16]))
    }

    /// Removes a stored value of the engine's own.
    pub fn remove_meta(&mut self, key: &str) -> Result<(), StateError> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", params![key])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Lets a disabled or backing-off record be sent again (the user acted). Returns
    /// whether it was disabled.
    pub fn re_enable(&mut self, record: &str) -> Result<bool, StateError> {
        let mut state = self.record(record)?;
        let was = state.disabled().is_some();
        state.re_enabled();
        self.save(record, &state)?;
        Ok(was)
    }
}

/// Marks the intents of one update as sent, from outside the engine's task (see
/// [`crate::departure`]): its own connection to the database, written synchronously so the
/// mark is on disk before the request can be.
#[derive(Debug)]
pub struct SentMarker {
    conn: std::sync::Mutex<Connection>,
    path: PathBuf,
}

impl SentMarker {
    /// The requests for these records may reach the provider from now on.
    pub fn mark_sent(&self, records: &[String]) -> Result<(), StateError> {
        let err = |source| StateError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction().map_err(err)?;
        for record in records {
            tx.execute(
                "UPDATE pending SET sent = 1 WHERE record = ?1",
                params![record],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

/// One connection with the settings every user of the database needs.
fn connect(path: &Path) -> Result<Connection, StateError> {
    let err = |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err)?;
    Ok(conn)
}

/// Creates `path` owner-only when missing (SQLite gives its journal files the database's
/// mode), and makes an existing one owner-only.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    drop(options.open(path)?);
    crate::files::make_private(path)
}

fn encode(state: &RecordState) -> String {
    // Plain data with string keys: serializing cannot fail; an empty object would only
    // lose state, never crash.
    serde_json::to_string(state).unwrap_or_else(|_| "{}".into())
}

/// Holds the state directory for one engine (an advisory lock on `<dir>/lock`); released
/// on drop or when the process ends, however it ends.
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    /// Takes the lock, or fails with [`StateError::Busy`] when another engine has it.
    pub fn acquire(dir: &Path) -> Result<Self, StateError> {
        crate::files::ensure_private_dir(dir).map_err(|source| StateError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("lock");
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|source| StateError::Dir {
            path: path.clone(),
            source,
        })?;
        // flock on Unix, LockFileEx on Windows: released when the process ends.
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Busy(dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(source)) => Err(StateError::Dir { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(record: &str, at: Timestamp, class: &str) -> HistoryEntry {
        HistoryEntry {
            at,
            record: record.into(),
            address: Some("203.0.113.7".into()),
            answer: format!("{class} 203.0.113.7"),
            classification: class.into(),
        }
    }

    #[test]
    fn state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = RecordState::default();
        state.answered(100, "good 203.0.113.7");
        state.accepted(
            Some("203.0.113.7".parse().unwrap()),
            100,
            false,
            crate::record::Acceptance::UnchangedCounted,
            || unreachable!("one nochg does not disable"),
        );
        {
            let mut store = StateStore::open(dir.path()).unwrap();
            store.finish(&state, &entry("a", 100, "success")).unwrap();
        }
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.record("a").unwrap(), state);
        assert_eq!(store.record("unknown").unwrap(), RecordState::default());
        assert_eq!(store.history(None, 10).unwrap().len(), 1);
    }

    #[test]
    fn pending_intent_outlives_a_crash_and_finish_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let ip: IpAddr = "198.51.100.4".parse().unwrap();
        {
            let mut store = StateStore::open(dir.path()).unwrap();
            store.begin(&["a", "b", "c"], ip, 5).unwrap();
            // "a" and "b" got a connection; "c" did not.
            store
                .sent_marker()
                .unwrap()
                .mark_sent(&["a".into(), "b".into()])
                .unwrap();
            store
                .finish(&RecordState::default(), &entry("a", 6, "success"))
                .unwrap();
            // dropped without finishing "b" and "c": the process died
        }
        let mut store = StateStore::open(dir.path()).unwrap();
        let pending = store.take_pending().unwrap();
        assert_eq!(
            pending,
            vec![
                Pending {
                    record: "b".into(),
                    address: ip,
                    at: 5,
                    sent: true,
                },
                Pending {
                    record: "c".into(),
                    address: ip,
                    at: 5,
                    sent: false,
                }
            ]
        );
        assert!(store.take_pending().unwrap().is_empty());
    }

    /// A database as version 1 wrote it, with an intent and a record.
    fn write_version_1(dir: &Path) {
        let conn = Connection::open(dir.join("state.sqlite3")).unwrap();
        conn.execute_batch(
            "CREATE TABLE record_state (record TEXT PRIMARY KEY, state TEXT NOT NULL);
             CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
                 record TEXT NOT NULL, address TEXT, answer TEXT NOT NULL,
                 classification TEXT NOT NULL);
             CREATE INDEX history_record ON history (record, id);
             CREATE TABLE pending (record TEXT PRIMARY KEY, address TEXT NOT NULL,
                 at INTEGER NOT NULL);
             INSERT INTO record_state VALUES ('home/a.example.org/A',
                 '{\"last_address\":\"81.2.69.160\",\"last_success_at\":100}');
             INSERT INTO history (at, record, address, answer, classification)
                 VALUES (100, 'home/a.example.org/A', '81.2.69.160', 'good 81.2.69.160', 'success');
             INSERT INTO pending VALUES ('home/a.example.org/A', '81.2.69.161', 200);
             INSERT INTO record_state VALUES ('__engine_flags', '{\"consecutive_nochg\":2}');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }

    #[test]
    fn a_version_1_database_is_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        write_version_1(dir.path());
        let mut store = StateStore::open(dir.path()).unwrap();
        let state = store.record("home/a.example.org/A").unwrap();
        assert_eq!(state.last_address(), Some("81.2.69.160".parse().unwrap()));
        assert_eq!(store.history(None, 10).unwrap().len(), 1);
        // Its intent is taken as sent: settled at start, never dropped.
        assert_eq!(
            store.take_pending().unwrap(),
            vec![Pending {
                record: "home/a.example.org/A".into(),
                address: "81.2.69.161".parse().unwrap(),
                at: 200,
                sent: true,
            }]
        );
        // The switches, two bits of a counter in a reserved row, are what they are now.
        assert!(!store.paused());
        assert!(store.offline());
        let reserved: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM record_state WHERE record = '__engine_flags'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(reserved, 0);
        store.set_switches(true, false).unwrap();
        store.set_meta("k", &5u32).unwrap();
        drop(store);
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.meta::<u32>("k"), Some(5));
        assert!(store.paused() && !store.offline());
    }

    #[test]
    fn secret_fingerprints_are_keyed_per_store() {
        use crate::secrets::Secret;
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut a = StateStore::open(one.path()).unwrap();
        let mut b = StateStore::open(two.path()).unwrap();
        let secret = Secret::new("hunter2-hunter2");
        let fp = a.fingerprint(&secret).unwrap();
        assert_eq!(fp.len(), 32);
        assert_eq!(a.fingerprint(&secret).unwrap(), fp, "stable in one store");
        assert_ne!(a.fingerprint(&Secret::new("hunter2-hunter3")).unwrap(), fp);
        assert_ne!(
            b.fingerprint(&secret).unwrap(),
            fp,
            "another installation, another key"
        );
        drop(a);
        let mut a = StateStore::open(one.path()).unwrap();
        assert_eq!(
            a.fingerprint(&secret).unwrap(),
            fp,
            "the key survives a restart"
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_owner_only_even_in_an_open_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        // As an older version left them: world-readable.
        write_version_1(&state);
        std::fs::set_permissions(
            state.join("state.sqlite3"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let mut store = StateStore::open(&state).unwrap();
        store
            .begin(&["a"], "81.2.69.160".parse().unwrap(), 1)
            .unwrap();
        let _lock = StateLock::acquire(&state).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        for name in [
            "state.sqlite3",
            "state.sqlite3-wal",
            "state.sqlite3-shm",
            "lock",
        ] {
            assert_eq!(mode(&state.join(name)), 0o600, "{name}");
        }
    }

    #[test]
    fn history_filters_by_record_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        for (i, record) in ["a", "b", "a"].iter().enumerate() {
            store
                .finish(&RecordState::default(), &entry(record, i as i64, "success"))
                .unwrap();
        }
        let a = store.history(Some("a"), 10).unwrap();
        assert_eq!(a.iter().map(|e| e.at).collect::<Vec<_>>(), [2, 0]);
        assert_eq!(store.history(None, 2).unwrap().len(), 2);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join("state.sqlite3")).unwrap();
        conn.pragma_update(None, "user_version", 9).unwrap();
        drop(conn);
        assert!(matches!(
            StateStore::open(dir.path()),
            Err(StateError::TooNew { found: 9, .. })
        ));
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            StateLock::acquire(dir.path()),
            Err(StateError::Busy(_))
        ));
        drop(first);
        StateLock::acquire(dir.path()).unwrap();
    }
}
