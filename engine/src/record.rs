//! A record's state between runs, and the only ways it changes.
//!
//! The state is stored as it always was (one JSON row per record), but its fields are
//! private to this module: the engine reads them through accessors and changes them only
//! through the named transitions below, each of which keeps the state consistent (a
//! success ends a back-off, a refusal waits for the user, an edit starts afresh). Where a
//! record stands is [`RecordState::standing`].

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::state::{Disabled, Timestamp};

/// What the engine remembers about one record between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordState {
    /// The address the provider last accepted for this record.
    last_address: Option<IpAddr>,
    /// When the provider last accepted an update (or touch).
    last_success_at: Option<Timestamp>,
    /// When the last request was answered.
    last_attempt_at: Option<Timestamp>,
    /// The provider's words on the last attempt.
    last_answer: Option<String>,
    /// Set while the record is disabled by a fatal answer.
    disabled: Option<Disabled>,
    /// `nochg` answers in a row to updates the engine believed were changes.
    consecutive_nochg: u32,
    /// No request before this time (transient errors).
    backoff_until: Option<Timestamp>,
    /// How many transient failures in a row (the back-off grows with it).
    backoff_step: u32,
    /// When the user last forced an update ("Update now").
    last_forced_at: Option<Timestamp>,
    /// When the user was last reminded to confirm the host at the provider.
    last_reminded_at: Option<Timestamp>,
    /// The record's settings as last applied; an edit changes them.
    fingerprint: Option<String>,
    /// The last run stopped after a request for this record may have reached the
    /// provider, before its answer was recorded: the next update is sent once at start
    /// to settle it, and a `nochg` to it does not count against the record.
    unconfirmed: bool,
    /// The provider's offline mode is what was last published.
    offline_active: bool,
}

/// Where a record stands, from its state alone (the engine adds what only it knows:
/// a request in flight, a missing secret, a record turned off in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Never accepted yet: its first update is due.
    Idle,
    /// The provider has what was last sent.
    Accepted,
    /// An update was under way when the last run stopped: it is sent once at start.
    Interrupted,
    /// Waiting after trouble: nothing before `until`.
    BackingOff {
        /// When it may be sent again.
        until: Timestamp,
    },
    /// Refused: nothing is sent until the user acts (the `cure` says what helps).
    Disabled {
        /// Why, in the provider's words, and what to do.
        cure: Disabled,
    },
}

/// How an accepted answer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// The provider changed the record.
    Updated,
    /// The provider already had it, and it was expected (a first contact, a touch, a
    /// forced or settling update).
    Unchanged,
    /// The provider already had what the engine believed was a change: counted, and the
    /// second in a row disables the record.
    UnchangedCounted,
}

/// What applying a record's settings found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settings {
    /// The same settings as before.
    Same,
    /// Settings seen for the first time (a new record, or one from before fingerprints).
    First,
    /// Edited since: the record starts afresh.
    Edited,
}

/// After this many counted `nochg` answers in a row, a record is disabled.
pub const NOCHG_LIMIT: u32 = 2;

impl RecordState {
    /// The address the provider last accepted.
    pub fn last_address(&self) -> Option<IpAddr> {
        self.last_address
    }

    /// When the provider last accepted an update.
    pub fn last_success_at(&self) -> Option<Timestamp> {
        self.last_success_at
    }

    /// When the last request was answered.
    pub fn last_attempt_at(&self) -> Option<Timestamp> {
        self.last_attempt_at
    }

    /// The provider's words on the last attempt.
    pub fn last_answer(&self) -> Option<&str> {
        self.last_answer.as_deref()
    }

    /// Why the record is disabled, while it is.
    pub fn disabled(&self) -> Option<&Disabled> {
        self.disabled.as_ref()
    }

    /// No request before this time.
    pub fn backoff_until(&self) -> Option<Timestamp> {
        self.backoff_until
    }

    /// When the user last forced an update.
    pub fn last_forced_at(&self) -> Option<Timestamp> {
        self.last_forced_at
    }

    /// When the user was last reminded to confirm the host.
    pub fn last_reminded_at(&self) -> Option<Timestamp> {
        self.last_reminded_at
    }

    /// Whether an interrupted update waits to be settled.
    pub fn unconfirmed(&self) -> bool {
        self.unconfirmed
    }

    /// Whether the provider's offline mode is what was last published.
    pub fn offline_active(&self) -> bool {
        self.offline_active
    }

    /// `nochg` answers in a row to believed changes.
    pub fn consecutive_nochg(&self) -> u32 {
        self.consecutive_nochg
    }

    /// Where the record stands at `now`.
    pub fn standing(&self, now: Timestamp) -> Standing {
        if let Some(cure) = &self.disabled {
            Standing::Disabled { cure: cure.clone() }
        } else if let Some(until) = self.backoff_until.filter(|t| *t > now) {
            Standing::BackingOff { until }
        } else if self.unconfirmed {
            Standing::Interrupted
        } else if self.last_success_at.is_some() {
            Standing::Accepted
        } else {
            Standing::Idle
        }
    }

    /// Whether the provider already shows `address` (`None`: its offline mode).
    pub fn shows(&self, address: Option<IpAddr>) -> bool {
        match address {
            Some(a) => self.last_address == Some(a) && !self.offline_active,
            None => self.offline_active,
        }
    }

    // ---- transitions ---------------------------------------------------------------

    /// A request was answered at `now` with these words (whatever they mean).
    pub fn answered(&mut self, now: Timestamp, answer: &str) {
        self.last_attempt_at = Some(now);
        self.last_answer = Some(answer.to_owned());
    }

    /// The update interrupted by the last run has had its one attempt.
    pub fn settled(&mut self) {
        self.unconfirmed = false;
    }

    /// The provider accepted `sent` (`None`: its offline mode) at `now`. Returns the
    /// refusal when this was the [`NOCHG_LIMIT`]th counted `nochg` in a row (the record
    /// is then disabled, with `disable` as the reason).
    pub fn accepted(
        &mut self,
        sent: Option<IpAddr>,
        now: Timestamp,
        forced: bool,
        how: Acceptance,
        disable: impl FnOnce() -> Disabled,
    ) -> Option<Disabled> {
        self.last_address = sent.or(self.last_address);
        self.offline_active = sent.is_none();
        self.last_success_at = Some(now);
        self.backoff_until = None;
        self.backoff_step = 0;
        self.unconfirmed = false;
        if forced {
            self.last_forced_at = Some(now);
        }
        match how {
            Acceptance::Updated => self.consecutive_nochg = 0,
            Acceptance::Unchanged => {}
            Acceptance::UnchangedCounted => {
                self.consecutive_nochg = self.consecutive_nochg.saturating_add(1);
                if self.consecutive_nochg >= NOCHG_LIMIT {
                    let cure = disable();
                    self.disabled = Some(cure.clone());
                    return Some(cure);
                }
            }
        }
        None
    }

    /// Trouble: the next failure in a row waits `wait(step)` from `now`. Returns when
    /// the record may be sent again.
    pub fn backing_off(&mut self, now: Timestamp, wait: impl FnOnce(u32) -> Duration) -> Timestamp {
        self.backoff_step = self.backoff_step.saturating_add(1);
        let wait = wait(self.backoff_step);
        let secs = Timestamp::try_from(wait.as_secs()).unwrap_or(Timestamp::MAX);
        let until = now.saturating_add(secs);
        self.backoff_until = Some(until);
        until
    }

    /// Refused by the provider: nothing is sent until the user acts.
    pub fn refused(&mut self, cure: Disabled) {
        self.disabled = Some(cure);
    }

    /// Refused along with the rest of its account; a record already disabled keeps its
    /// own reason. Returns whether it changed.
    pub fn refused_with_account(&mut self, cure: Disabled) -> bool {
        if self.disabled.is_some() {
            return false;
        }
        self.disabled = Some(cure);
        true
    }

    /// The user acted (re-enabled it): sent again at the next check.
    pub fn re_enabled(&mut self) {
        self.disabled = None;
        self.backoff_until = None;
        self.backoff_step = 0;
        self.consecutive_nochg = 0;
    }

    /// A refusal that `cures` says a new secret fixes is lifted. Returns whether it was.
    pub fn credentials_changed(&mut self, cures: impl FnOnce(&Disabled) -> bool) -> bool {
        if !self.disabled.as_ref().is_some_and(cures) {
            return false;
        }
        self.disabled = None;
        self.backoff_until = None;
        self.backoff_step = 0;
        true
    }

    /// The record's settings are `fingerprint`: an edited record starts afresh (enabled,
    /// and its settings sent again, since the provider has the old ones).
    pub fn settings(&mut self, fingerprint: &str) -> Settings {
        if self.fingerprint.as_deref() == Some(fingerprint) {
            return Settings::Same;
        }
        let known = self.fingerprint.is_some();
        self.fingerprint = Some(fingerprint.to_owned());
        if !known {
            return Settings::First;
        }
        self.re_enabled();
        self.last_address = None;
        self.offline_active = false;
        Settings::Edited
    }

    /// The last run stopped after a request may have reached the provider.
    pub fn interrupted(&mut self) {
        self.unconfirmed = true;
    }

    /// The user was reminded to confirm the host at `now`.
    pub fn reminded(&mut self, now: Timestamp) {
        self.last_reminded_at = Some(now);
    }

    /// Another client (ddclient, on moving over) had `address` accepted at `at`: the
    /// provider shows it, so an unchanged address sends nothing. Only for a record the
    /// engine has never sent; the keep-alive counts from `at`.
    pub fn imported(&mut self, address: IpAddr, at: Timestamp) {
        self.last_address = Some(address);
        self.last_success_at = Some(at);
        self.offline_active = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "81.2.69.160";

    fn cure(code: &str) -> Disabled {
        Disabled {
            code: code.into(),
            answer: code.into(),
            advice: "do something".into(),
            at: 5,
        }
    }

    fn accepted_at(now: Timestamp) -> RecordState {
        let mut state = RecordState::default();
        state.answered(now, "good");
        state.accepted(
            Some(V4.parse().unwrap()),
            now,
            false,
            Acceptance::Updated,
            || cure("never"),
        );
        state
    }

    #[test]
    fn a_new_record_is_idle_and_an_accepted_one_shows_its_address() {
        let state = RecordState::default();
        assert_eq!(state.standing(0), Standing::Idle);
        let state = accepted_at(10);
        assert_eq!(state.standing(10), Standing::Accepted);
        assert!(state.shows(Some(V4.parse().unwrap())));
        assert!(!state.shows(None));
        assert_eq!(state.last_answer(), Some("good"));
        assert_eq!(state.last_success_at(), Some(10));
    }

    #[test]
    fn an_imported_address_is_accepted_and_survives_the_first_settings() {
        let mut state = RecordState::default();
        state.imported(V4.parse().unwrap(), 100);
        assert_eq!(state.standing(200), Standing::Accepted);
        assert!(state.shows(Some(V4.parse().unwrap())));
        assert_eq!(state.last_success_at(), Some(100));
        assert_eq!(state.last_attempt_at(), None);
        // The engine fingerprints a record's settings when it first sees it: that must
        // not wipe what was imported.
        assert_eq!(state.settings("fp"), Settings::First);
        assert!(state.shows(Some(V4.parse().unwrap())));
    }

    #[test]
    fn back_off_grows_ends_with_time_and_clears_on_success() {
        let mut state = accepted_at(10);
        let until = state.backing_off(20, |step| Duration::from_secs(60 * u64::from(step)));
        assert_eq!(until, 80);
        assert_eq!(state.standing(79), Standing::BackingOff { until: 80 });
        assert_eq!(state.standing(80), Standing::Accepted);
        assert_eq!(
            state.backing_off(100, |step| Duration::from_secs(60 * u64::from(step))),
            220
        );
        // A wait beyond any timestamp saturates.
        assert_eq!(state.backing_off(100, |_| Duration::MAX), Timestamp::MAX);
        state.accepted(None, 300, true, Acceptance::Unchanged, || cure("never"));
        assert_eq!(state.standing(300), Standing::Accepted);
        assert_eq!(state.backoff_until(), None);
        assert!(state.offline_active() && state.shows(None));
        assert_eq!(state.last_forced_at(), Some(300));
        // The back-off starts again from its first step.
        assert_eq!(
            state.backing_off(400, |step| Duration::from_secs(u64::from(step))),
            401
        );
    }

    #[test]
    fn the_second_counted_nochg_disables() {
        let mut state = accepted_at(10);
        let address = Some(V4.parse().unwrap());
        assert_eq!(
            state.accepted(address, 20, false, Acceptance::UnchangedCounted, || cure(
                "nochg"
            )),
            None
        );
        let refused = state.accepted(address, 30, false, Acceptance::UnchangedCounted, || {
            cure("nochg")
        });
        assert_eq!(refused, Some(cure("nochg")));
        assert_eq!(
            state.standing(30),
            Standing::Disabled {
                cure: cure("nochg")
            }
        );
        // An update in between starts the count again.
        let mut state = accepted_at(10);
        state.accepted(address, 20, false, Acceptance::UnchangedCounted, || {
            cure("nochg")
        });
        state.accepted(address, 30, false, Acceptance::Updated, || cure("nochg"));
        assert_eq!(
            state.accepted(address, 40, false, Acceptance::UnchangedCounted, || cure(
                "nochg"
            )),
            None
        );
        assert_eq!(state.consecutive_nochg(), 1);
    }

    #[test]
    fn refusals_wait_for_the_user_and_only_the_right_cure_lifts_them() {
        let mut state = accepted_at(10);
        state.backing_off(20, |_| Duration::from_secs(60));
        state.refused(cure("nohost"));
        assert_eq!(
            state.standing(1000),
            Standing::Disabled {
                cure: cure("nohost")
            }
        );
        assert!(!state.credentials_changed(|d| d.code == "badauth"));
        assert!(
            !state.refused_with_account(cure("badauth")),
            "keeps its own reason"
        );
        assert_eq!(state.disabled().unwrap().code, "nohost");
        state.re_enabled();
        assert_eq!(state.standing(1000), Standing::Accepted);
        assert_eq!(state.backoff_until(), None);

        assert!(state.refused_with_account(cure("badauth")));
        assert!(state.credentials_changed(|d| d.code == "badauth"));
        assert_eq!(state.standing(1000), Standing::Accepted);
    }

    #[test]
    fn an_edit_starts_afresh_but_a_first_fingerprint_does_not() {
        let mut state = accepted_at(10);
        assert_eq!(state.settings("a"), Settings::First);
        assert!(
            state.shows(Some(V4.parse().unwrap())),
            "a first sight resends nothing"
        );
        assert_eq!(state.settings("a"), Settings::Same);
        state.refused(cure("nohost"));
        assert_eq!(state.settings("b"), Settings::Edited);
        assert_eq!(state.disabled(), None);
        assert_eq!(state.last_address(), None, "the new settings are sent");
    }

    #[test]
    fn an_interrupted_update_is_settled_by_one_attempt() {
        let mut state = accepted_at(10);
        state.interrupted();
        assert_eq!(state.standing(20), Standing::Interrupted);
        state.answered(30, "911");
        state.settled();
        state.backing_off(30, |_| Duration::from_secs(60));
        assert!(!state.unconfirmed());
        assert_eq!(state.standing(100), Standing::Accepted);
        state.reminded(100);
        assert_eq!(state.last_reminded_at(), Some(100));
    }

    #[test]
    fn todays_rows_read_the_same() {
        // A row as earlier versions stored it.
        let json = r#"{"last_address":"81.2.69.160","last_success_at":100,"last_attempt_at":100,
            "last_answer":"good 81.2.69.160","disabled":null,"consecutive_nochg":1,
            "backoff_until":null,"backoff_step":0,"last_forced_at":null,"last_reminded_at":null,
            "fingerprint":"dyndns|x","unconfirmed":false,"offline_active":false}"#;
        let state: RecordState = serde_json::from_str(json).unwrap();
        assert_eq!(state.last_address(), Some(V4.parse().unwrap()));
        assert_eq!(state.consecutive_nochg(), 1);
        assert_eq!(state.standing(200), Standing::Accepted);
        let again: RecordState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(again, state);
    }
}
