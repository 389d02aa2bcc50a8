//! The state store: per-record state and the update history, in SQLite.
//!
//! Every change is one transaction, so a crash leaves either the old or the new state,
//! never half of each. Before a request goes out its *intent* (record, address) is
//! written; an intent still present at the next start means the process died between
//! sending and recording the answer (see [`StateStore::take_pending`]).

use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch (the store's time unit).
pub type Timestamp = i64;

const SCHEMA_VERSION: i64 = 1;

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

/// What the engine remembers about one record between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordState {
    /// The address the provider last accepted for this record.
    pub last_address: Option<IpAddr>,
    /// When the provider last accepted an update (or touch).
    pub last_success_at: Option<Timestamp>,
    /// When the last request was sent.
    pub last_attempt_at: Option<Timestamp>,
    /// The provider's words on the last attempt.
    pub last_answer: Option<String>,
    /// Set while the record is disabled by a fatal answer.
    pub disabled: Option<Disabled>,
    /// `nochg` answers in a row to updates the engine believed were changes.
    pub consecutive_nochg: u32,
    /// No request before this time (transient errors).
    pub backoff_until: Option<Timestamp>,
    /// How many transient failures in a row (the back-off grows with it).
    pub backoff_step: u32,
    /// When the user last forced an update ("Update now").
    pub last_forced_at: Option<Timestamp>,
    /// When the user was last reminded to confirm the host at the provider.
    pub last_reminded_at: Option<Timestamp>,
    /// The record's settings when it was last disabled or updated; an edit changes it.
    pub fingerprint: Option<String>,
    /// The last accepted address is assumed, not confirmed: the engine stopped between
    /// sending it and reading the answer.
    pub unconfirmed: bool,
    /// The provider's offline mode is what was last published.
    pub offline_active: bool,
}

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

/// An update that was sent but whose answer was never recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The record key.
    pub record: String,
    /// The address that was sent.
    pub address: IpAddr,
    /// When.
    pub at: Timestamp,
}

/// The open state database.
#[derive(Debug)]
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
}

impl StateStore {
    /// Opens (creating when missing) `<dir>/state.sqlite3`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StateError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        let path = dir.join("state.sqlite3");
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
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
        Ok(Self { conn, path })
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
                "INSERT OR REPLACE INTO pending (record, address, at) VALUES (?1, ?2, ?3)",
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

    /// Intents left by a process that stopped between sending and recording; removes
    /// them from the store.
    pub fn take_pending(&mut self) -> Result<Vec<Pending>, StateError> {
        let path = self.path.clone();
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let pending = {
            let mut stmt = tx
                .prepare("SELECT record, address, at FROM pending ORDER BY record")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .map_err(err)?;
            let mut pending = Vec::new();
            for row in rows {
                let (record, address, at) = row.map_err(err)?;
                if let Ok(address) = address.parse() {
                    pending.push(Pending {
                        record,
                        address,
                        at,
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
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StateError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        let path = dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StateError::Dir {
                path: path.clone(),
                source,
            })?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Self { _file: file }),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(StateError::Busy(dir.to_path_buf())),
            Err(e) => Err(StateError::Dir {
                path,
                source: e.into(),
            }),
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
        let state = RecordState {
            last_address: Some("203.0.113.7".parse().unwrap()),
            last_success_at: Some(100),
            consecutive_nochg: 1,
            ..Default::default()
        };
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
            store.begin(&["a", "b"], ip, 5).unwrap();
            store
                .finish(&RecordState::default(), &entry("a", 6, "success"))
                .unwrap();
            // dropped without finishing "b": the process died
        }
        let mut store = StateStore::open(dir.path()).unwrap();
        let pending = store.take_pending().unwrap();
        assert_eq!(
            pending,
            vec![Pending {
                record: "b".into(),
                address: ip,
                at: 5
            }]
        );
        assert!(store.take_pending().unwrap().is_empty());
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
