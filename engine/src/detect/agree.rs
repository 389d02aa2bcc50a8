//! The detector: asks a family's sources in the user's order until enough of them agree
//! on one valid address, and keeps each source's health (spacing, bench, last answer).
//!
//! Rules (docs/architecture.md, rules 2 and 5):
//! - every candidate is validated (family, public range unless private addresses are
//!   allowed); an invalid answer is a failed answer;
//! - `agree` sources (default 2, or all of them when fewer are configured) must name the
//!   same address; a source that disagrees makes the detector ask the next one, which
//!   breaks the tie; no agreement, no address (and the report says why);
//! - a source is not asked again before its minimum interval (provider-owned check-IP
//!   services: 10 minutes); meanwhile its last answer still counts, unless the network
//!   changed since (then it is skipped);
//! - a remote source that fails is benched, 5 minutes doubling up to an hour, and the
//!   next one is used; a network change lifts every bench, since the failures were
//!   probably the network's.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{SOURCE_TIMEOUT, Source, SourceKind, validate};
use crate::provider::IpFamily;
use crate::state::Timestamp;

/// How many sources must agree unless the config says otherwise.
pub const DEFAULT_AGREE: usize = 2;
/// The first bench of a failing source; it doubles with each further failure.
pub const FIRST_BENCH: Duration = Duration::from_secs(5 * 60);
/// The longest bench.
pub const MAX_BENCH: Duration = Duration::from_secs(3600);
/// No new wave of questions starts after this long (each wave is bounded by the sources'
/// own time limit).
pub const CHECK_DEADLINE: Duration = Duration::from_secs(10);

/// Where a source stands after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Its answer is the agreed address.
    Agreed,
    /// It answered a valid address that is not the agreed one (or there was no agreement).
    Answered,
    /// It failed or answered something unusable.
    Failed,
    /// Benched after failures: not asked until `benched_until`.
    Benched,
    /// Asked too recently to be asked again, and the network changed since.
    Resting,
    /// Not asked: enough sources agreed before its turn.
    NotAsked,
    /// Not used while its provider's account is refused (No-IP's rule).
    Suspended,
    /// Not asked: the check had taken too long already.
    Skipped,
}

/// One source in a family's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReport {
    /// The source as written in the config.
    pub source: String,
    /// What kind of source it is.
    pub kind: SourceKind,
    /// Where it stands.
    pub state: SourceState,
    /// Its latest valid answer.
    pub address: Option<IpAddr>,
    /// Its latest failure, while it keeps failing.
    pub error: Option<String>,
    /// When it was last asked.
    pub asked_at: Option<Timestamp>,
    /// This check used its remembered answer instead of asking (minimum interval).
    pub cached: bool,
    /// Benched until then.
    pub benched_until: Option<Timestamp>,
}

/// What a check found for one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The agreed, valid address, or why there is none.
    pub address: Result<IpAddr, String>,
    /// The sources whose answers agreed.
    pub agreed: Vec<String>,
    /// How many had to agree.
    pub needed: usize,
    /// Every source of the family, in order.
    pub sources: Vec<SourceReport>,
    /// No agreement because a source was resting: it may be asked again after this long,
    /// and the check should then be repeated.
    pub retry_after: Option<Duration>,
}

struct Slot {
    source: Arc<dyn Source>,
    asked: Option<Instant>,
    answer: Option<Result<IpAddr, String>>,
    failures: u32,
    benched_until: Option<Instant>,
}

impl Slot {
    fn new(source: Arc<dyn Source>) -> Self {
        Self {
            source,
            asked: None,
            answer: None,
            failures: 0,
            benched_until: None,
        }
    }
}

/// Per-family sources and their health.
pub struct Detector {
    agree: usize,
    v4: Vec<Slot>,
    v6: Vec<Slot>,
    /// Answers from before this instant are stale: the network changed.
    fresh_since: Option<Instant>,
    suspended: BTreeSet<String>,
}

impl Detector {
    /// Sources per family, in the order they are tried; `agree` of them must agree
    /// (at least 1; fewer configured sources lower it to their number).
    pub fn new(v4: Vec<Arc<dyn Source>>, v6: Vec<Arc<dyn Source>>, agree: usize) -> Self {
        Self {
            agree: agree.max(1),
            v4: v4.into_iter().map(Slot::new).collect(),
            v6: v6.into_iter().map(Slot::new).collect(),
            fresh_since: None,
            suspended: BTreeSet::new(),
        }
    }

    /// Takes over the health of `old`'s sources with the same labels (a config reload
    /// must not forget that a provider's check-IP was asked a minute ago).
    pub fn inherit(&mut self, old: Detector) {
        fn take_over(new: &mut [Slot], old: Vec<Slot>) {
            let mut old: Vec<Option<Slot>> = old.into_iter().map(Some).collect();
            for slot in new {
                let found = old.iter_mut().find(|o| {
                    o.as_ref()
                        .is_some_and(|o| o.source.label() == slot.source.label())
                });
                if let Some(o) = found.and_then(Option::take) {
                    slot.asked = o.asked;
                    slot.answer = o.answer;
                    slot.failures = o.failures;
                    slot.benched_until = o.benched_until;
                }
            }
        }
        take_over(&mut self.v4, old.v4);
        take_over(&mut self.v6, old.v6);
        self.fresh_since = old.fresh_since;
        self.suspended = old.suspended;
    }

    /// Whether any source is configured for `family`.
    pub fn has_sources(&self, family: IpFamily) -> bool {
        !self.slots(family).is_empty()
    }

    /// The network changed (or the machine woke up): remembered answers no longer count,
    /// and benched sources get another chance.
    pub fn network_changed(&mut self) {
        self.fresh_since = Some(Instant::now());
        for slot in self.v4.iter_mut().chain(self.v6.iter_mut()) {
            slot.benched_until = None;
        }
    }

    /// Sources not to ask (by label) until further notice.
    pub fn set_suspended(&mut self, labels: BTreeSet<String>) {
        self.suspended = labels;
    }

    fn slots(&self, family: IpFamily) -> &[Slot] {
        match family {
            IpFamily::V4 => &self.v4,
            IpFamily::V6 => &self.v6,
        }
    }

    fn slots_mut(&mut self, family: IpFamily) -> &mut Vec<Slot> {
        match family {
            IpFamily::V4 => &mut self.v4,
            IpFamily::V6 => &mut self.v6,
        }
    }

    /// Checks `family`: asks sources in order until enough agree. `now` is the engine's
    /// wall clock, for the report.
    pub async fn check(
        &mut self,
        family: IpFamily,
        allow_private: bool,
        now: Timestamp,
    ) -> Detection {
        self.run(family, allow_private, now, false).await
    }

    /// Asks every source of `family` now, benched ones too (`dyntrayd ip`, a user's
    /// explicit question), and reports the address the engine would publish. A source's
    /// minimum interval still holds (its remembered answer is shown), and so does a
    /// suspension.
    pub async fn ask_all(
        &mut self,
        family: IpFamily,
        allow_private: bool,
        now: Timestamp,
    ) -> Detection {
        self.run(family, allow_private, now, true).await
    }

    async fn run(
        &mut self,
        family: IpFamily,
        allow_private: bool,
        now: Timestamp,
        everything: bool,
    ) -> Detection {
        let fresh_since = self.fresh_since;
        let suspended = self.suspended.clone();
        let count = self.slots(family).len();
        let needed = self.agree.min(count).max(1);
        let mut votes: Vec<(IpAddr, Vec<usize>)> = Vec::new();
        let mut agreed: Option<IpAddr> = None;
        let mut states = vec![SourceState::NotAsked; count];
        let mut cached = vec![false; count];
        let mut retry_after = None;
        let mut failed_now: Vec<usize> = Vec::new();
        let mut fresh_remote_answer = false;
        let mut gave_up = false;
        let started = Instant::now();
        let mut next = 0;
        // Sources are asked in waves: as many at once as answers are still missing for an
        // agreement, in the user's order, so one slow source costs one timeout, not one
        // per source. No new wave starts after CHECK_DEADLINE.
        while next < count && (everything || agreed.is_none()) {
            let best = votes.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
            let wave_size = if everything {
                count
            } else {
                needed.saturating_sub(best).max(1)
            };
            let mut wave: Vec<usize> = Vec::new();
            let mut deferred: Vec<(usize, IpAddr)> = Vec::new();
            while next < count && wave.len() < wave_size && (everything || agreed.is_none()) {
                let i = next;
                next += 1;
                let slot = &self.slots(family)[i];
                let at = Instant::now();
                if suspended.contains(slot.source.label()) {
                    states[i] = SourceState::Suspended;
                    continue;
                }
                if !everything && slot.benched_until.is_some_and(|t| t > at) {
                    states[i] = SourceState::Benched;
                    continue;
                }
                let resting = slot
                    .asked
                    .is_some_and(|t| at.duration_since(t) < slot.source.min_interval());
                if !resting {
                    wave.push(i);
                    continue;
                }
                // Asked too recently: its last answer counts, unless the network changed
                // since (an explicit `ask_all` shows it anyway, marked as remembered).
                // (`ask_all` shows a stale one, but it does not count there either.)
                let stale = fresh_since.is_some_and(|f| slot.asked.is_some_and(|t| t < f));
                match &slot.answer {
                    Some(Ok(address)) if !stale => {
                        cached[i] = true;
                        states[i] = SourceState::Answered;
                        if wave.is_empty() {
                            vote(&mut votes, &mut agreed, *address, i, needed);
                        } else {
                            // Counted after the sources before it have answered: the
                            // first address to reach agreement is in the user's order.
                            deferred.push((i, *address));
                        }
                    }
                    _ => {
                        states[i] = SourceState::Resting;
                        let wait = slot.asked.map_or(Duration::ZERO, |t| {
                            slot.source
                                .min_interval()
                                .saturating_sub(at.duration_since(t))
                        });
                        retry_after = Some(retry_after.map_or(wait, |r: Duration| r.min(wait)));
                    }
                }
            }
            if wave.is_empty() {
                continue;
            }
            if started.elapsed() >= CHECK_DEADLINE {
                gave_up = true;
                for &i in &wave {
                    states[i] = SourceState::Skipped;
                }
                for state in &mut states[next..] {
                    *state = SourceState::Skipped;
                }
                break;
            }
            let mut asks = tokio::task::JoinSet::new();
            for &i in &wave {
                let source = Arc::clone(&self.slots(family)[i].source);
                asks.spawn(async move { (i, ask(source.as_ref(), family, allow_private).await) });
            }
            let mut answers = Vec::with_capacity(wave.len());
            while let Some(done) = asks.join_next().await {
                match done {
                    Ok(answer) => answers.push(answer),
                    Err(e) => tracing::error!(error = %e, "an address source task failed"),
                }
            }
            // In the user's order, whatever order they arrived in, remembered answers
            // among them.
            answers.sort_by_key(|(i, _)| *i);
            let asked_at = Instant::now();
            let mut deferred = deferred.into_iter().peekable();
            for (i, answer) in answers {
                while let Some((j, address)) = deferred.next_if(|(j, _)| *j < i) {
                    vote(&mut votes, &mut agreed, address, j, needed);
                }
                let slot = &mut self.slots_mut(family)[i];
                slot.asked = Some(asked_at);
                slot.answer = Some(answer.clone());
                match answer {
                    Ok(address) => {
                        slot.failures = 0;
                        slot.benched_until = None;
                        fresh_remote_answer |= benchable(slot.source.kind());
                        states[i] = SourceState::Answered;
                        vote(&mut votes, &mut agreed, address, i, needed);
                    }
                    Err(e) => {
                        // The check's own line says it when no address comes of it: one
                        // line per failed check, not one per source as well.
                        tracing::debug!(source = %slot.source.label(),
                            family = family.record_type(), error = %e, "address source failed");
                        states[i] = SourceState::Failed;
                        failed_now.push(i);
                    }
                }
            }
            for (j, address) in deferred {
                vote(&mut votes, &mut agreed, address, j, needed);
            }
        }
        // A source that failed while another remote one answered just now is at fault and
        // rests; when no remote source got through (a DSL line down; the machine's own
        // interfaces and remembered answers do not tell), the network is at fault: nobody
        // is benched, so the first poll after it is back finds the address.
        if fresh_remote_answer {
            for i in failed_now {
                let slot = &mut self.slots_mut(family)[i];
                if benchable(slot.source.kind()) {
                    slot.failures = slot.failures.saturating_add(1);
                    let bench = bench_for(slot.failures).max(slot.source.min_interval());
                    slot.benched_until = Some(Instant::now() + bench);
                }
            }
        }

        let slots = self.slots(family);
        let label = |i: usize| slots[i].source.label().to_owned();
        let agreeing: Vec<usize> = agreed
            .and_then(|a| votes.iter().find(|(v, _)| *v == a))
            .map(|(_, voters)| voters.clone())
            .unwrap_or_default();
        for &i in &agreeing {
            states[i] = SourceState::Agreed;
        }
        let at = Instant::now();
        let stamp = |i: Instant| now - at.saturating_duration_since(i).as_secs() as Timestamp;
        let stamp_ahead = |i: Instant| now + i.saturating_duration_since(at).as_secs() as Timestamp;
        let sources = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| SourceReport {
                source: slot.source.label().to_owned(),
                kind: slot.source.kind(),
                state: states[i],
                address: match &slot.answer {
                    Some(Ok(a)) => Some(*a),
                    _ => None,
                },
                error: match &slot.answer {
                    Some(Err(e)) => Some(e.clone()),
                    _ => None,
                },
                asked_at: slot.asked.map(stamp),
                cached: cached[i],
                benched_until: slot.benched_until.filter(|t| *t > at).map(stamp_ahead),
            })
            .collect::<Vec<_>>();

        let address = match agreed {
            Some(address) => Ok(address),
            None if count == 0 => Err(format!(
                "no address source is configured for {}",
                family_name(family)
            )),
            None => Err(why_none(&sources, &votes, needed, &label)).map_err(|why| {
                if gave_up {
                    format!(
                        "{why}; gave up after {} s, the rest were not asked",
                        CHECK_DEADLINE.as_secs()
                    )
                } else {
                    why
                }
            }),
        };
        let retry_after = retry_after.filter(|_| address.is_err());
        Detection {
            address,
            agreed: agreeing.into_iter().map(label).collect(),
            needed,
            sources,
            retry_after,
        }
    }
}

/// Counts `address` as `voter`'s answer; the first address to reach `needed` is agreed.
fn vote(
    votes: &mut Vec<(IpAddr, Vec<usize>)>,
    agreed: &mut Option<IpAddr>,
    address: IpAddr,
    voter: usize,
    needed: usize,
) {
    let index = match votes.iter().position(|(a, _)| *a == address) {
        Some(index) => index,
        None => {
            votes.push((address, Vec::new()));
            votes.len() - 1
        }
    };
    votes[index].1.push(voter);
    if agreed.is_none() && votes[index].1.len() >= needed {
        *agreed = Some(address);
    }
}

/// Asks one source and validates its candidates: the first valid one is its answer.
async fn ask(source: &dyn Source, family: IpFamily, allow_private: bool) -> Result<IpAddr, String> {
    // Sources bound their own time; this is the backstop for one that does not.
    let asked = tokio::time::timeout(SOURCE_TIMEOUT + Duration::from_secs(1), source.ask(family));
    let candidates = match asked.await {
        Ok(Ok(candidates)) => candidates,
        Ok(Err(e)) => return Err(e.0),
        Err(_) => {
            return Err(format!(
                "no answer within {} s",
                (SOURCE_TIMEOUT + Duration::from_secs(1)).as_secs()
            ));
        }
    };
    let mut first_problem = None;
    for candidate in candidates {
        match validate(candidate, family, allow_private) {
            Ok(address) => return Ok(address),
            Err(e) => {
                first_problem.get_or_insert(e);
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| "no address".into()))
}

fn benchable(kind: SourceKind) -> bool {
    // The machine's own interfaces cost nothing to read and change with the network.
    !matches!(kind, SourceKind::Interface | SourceKind::Manual)
}

fn bench_for(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(10);
    (FIRST_BENCH * 2u32.pow(doublings)).min(MAX_BENCH)
}

fn family_name(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "IPv4",
        IpFamily::V6 => "IPv6",
    }
}

/// The reason a check found no address, in one line.
fn why_none(
    sources: &[SourceReport],
    votes: &[(IpAddr, Vec<usize>)],
    needed: usize,
    label: &dyn Fn(usize) -> String,
) -> String {
    let failures: Vec<String> = sources
        .iter()
        .filter_map(|s| match s.state {
            SourceState::Failed => Some(format!(
                "{}: {}",
                s.source,
                s.error.as_deref().unwrap_or("failed")
            )),
            SourceState::Benched => Some(format!(
                "{}: resting after failures ({})",
                s.source,
                s.error.as_deref().unwrap_or("failed")
            )),
            SourceState::Resting => Some(format!("{}: asked too recently", s.source)),
            SourceState::Suspended => Some(format!(
                "{}: not used while its provider refuses the account",
                s.source
            )),
            _ => None,
        })
        .collect();
    let answers = |votes: &[(IpAddr, Vec<usize>)]| {
        votes
            .iter()
            .map(|(address, voters)| {
                let names: Vec<String> = voters.iter().map(|&i| label(i)).collect();
                format!("{address} from {}", names.join(" and "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if votes.is_empty() {
        return if failures.is_empty() {
            "no source gave a usable address".to_owned()
        } else {
            failures.join("; ")
        };
    }
    let mut text = match votes.len() {
        0 | 1 => format!(
            "not enough sources agree ({} of {needed} needed): {}",
            votes[0].1.len(),
            answers(votes)
        ),
        _ => format!("the sources disagree: {}", answers(votes)),
    };
    if !failures.is_empty() {
        text.push_str("; ");
        text.push_str(&failures.join("; "));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::detect::SourceError;
    use crate::provider::BoxFuture;

    /// A source answering from a script (the last answer repeats), counting questions.
    struct Scripted {
        label: String,
        kind: SourceKind,
        interval: Duration,
        answers: Mutex<VecDeque<Result<Vec<IpAddr>, String>>>,
        asked: AtomicUsize,
        delay: Duration,
    }

    fn scripted(label: &str, answers: &[&str]) -> Arc<Scripted> {
        Arc::new(Scripted {
            label: label.into(),
            kind: SourceKind::Http,
            interval: Duration::ZERO,
            answers: Mutex::new(answers.iter().map(|a| answer(a)).collect()),
            asked: AtomicUsize::new(0),
            delay: Duration::ZERO,
        })
    }

    /// A source that takes `delay` to answer A.
    fn slow(label: &str, delay: Duration) -> Arc<Scripted> {
        Arc::new(Scripted {
            delay,
            ..Arc::into_inner(scripted(label, &[A])).unwrap()
        })
    }

    /// "81.2.69.160" is an answer, "81.2.69.160 10.0.0.1" several candidates, "!why" a
    /// failure.
    fn answer(text: &str) -> Result<Vec<IpAddr>, String> {
        match text.strip_prefix('!') {
            Some(why) => Err(why.into()),
            None => Ok(text.split(' ').map(|a| a.parse().unwrap()).collect()),
        }
    }

    impl Scripted {
        fn asked(&self) -> usize {
            self.asked.load(Ordering::SeqCst)
        }

        fn then(&self, answers: &[&str]) {
            *self.answers.lock().unwrap() = answers.iter().map(|a| answer(a)).collect();
        }
    }

    impl Source for Scripted {
        fn label(&self) -> &str {
            &self.label
        }
        fn kind(&self) -> SourceKind {
            self.kind
        }
        fn min_interval(&self) -> Duration {
            self.interval
        }
        fn ask(&self, _family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let mut answers = self.answers.lock().unwrap();
            let next = if answers.len() > 1 {
                answers.pop_front()
            } else {
                answers.front().cloned()
            };
            let next = next.unwrap_or_else(|| Err("no script".into()));
            let delay = self.delay;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                next.map_err(SourceError)
            })
        }
    }

    fn detector(sources: &[&Arc<Scripted>], agree: usize) -> Detector {
        let v4 = sources
            .iter()
            .map(|s| Arc::clone(*s) as Arc<dyn Source>)
            .collect();
        Detector::new(v4, Vec::new(), agree)
    }

    const A: &str = "81.2.69.160";
    const B: &str = "81.2.69.161";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn two_agreeing_sources_are_enough() {
        let (a, b, c) = (
            scripted("a", &[A]),
            scripted("b", &[A]),
            scripted("c", &[A]),
        );
        let mut d = detector(&[&a, &b, &c], 2);
        let found = d.check(IpFamily::V4, false, 1000).await;
        assert_eq!(found.address, Ok(ip(A)));
        assert_eq!(found.agreed, ["a", "b"]);
        assert_eq!(found.needed, 2);
        assert_eq!((a.asked(), b.asked(), c.asked()), (1, 1, 0));
        let states: Vec<SourceState> = found.sources.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [
                SourceState::Agreed,
                SourceState::Agreed,
                SourceState::NotAsked
            ]
        );
        assert_eq!(found.sources[0].asked_at, Some(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_third_source_breaks_a_tie() {
        let (a, b, c) = (
            scripted("a", &[A]),
            scripted("b", &[B]),
            scripted("c", &[B]),
        );
        let mut d = detector(&[&a, &b, &c], 2);
        let found = d.check(IpFamily::V4, false, 1000).await;
        assert_eq!(found.address, Ok(ip(B)));
        assert_eq!(found.agreed, ["b", "c"]);
        assert_eq!(found.sources[0].state, SourceState::Answered);
    }

    #[tokio::test(start_paused = true)]
    async fn disagreement_without_a_tie_breaker_gives_no_address() {
        let (a, b) = (scripted("a", &[A]), scripted("b", &[B]));
        let mut d = detector(&[&a, &b], 2);
        let found = d.check(IpFamily::V4, false, 1000).await;
        assert_eq!(
            found.address,
            Err(format!("the sources disagree: {A} from a, {B} from b"))
        );
        assert!(found.agreed.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn bad_answers_do_not_count() {
        // Private, an IPv6 address where IPv4 is expected, a failure: none is a vote.
        let a = scripted("a", &["10.0.0.1"]);
        let b = scripted("b", &["2a00:1450:4001:81b::200e"]);
        let c = scripted("c", &["!HTTP 500 Internal Server Error"]);
        let e = scripted("e", &[A]);
        let mut d = detector(&[&a, &b, &c, &e], 2);
        let found = d.check(IpFamily::V4, false, 1000).await;
        let why = found.address.unwrap_err();
        assert!(
            why.starts_with(&format!(
                "not enough sources agree (1 of 2 needed): {A} from e"
            )),
            "{why}"
        );
        assert!(why.contains("a: 10.0.0.1 is a private address"), "{why}");
        assert!(
            why.contains("b: 2a00:1450:4001:81b::200e is not an IPv4 address"),
            "{why}"
        );
        assert!(why.contains("c: HTTP 500"), "{why}");
        // A record that allows private addresses may take the LAN address.
        let mut d = detector(&[&a], 2);
        assert_eq!(
            d.check(IpFamily::V4, true, 1000).await.address,
            Ok(ip("10.0.0.1"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_valid_candidate_is_the_answer() {
        let a = scripted("a", &["10.0.0.2 81.2.69.160"]);
        let mut d = detector(&[&a], 2);
        let found = d.check(IpFamily::V4, false, 1000).await;
        assert_eq!(found.address, Ok(ip(A)));
        assert_eq!(found.needed, 1, "a single source is trusted alone");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_source_is_benched_and_the_next_one_used() {
        let (a, b, c) = (
            scripted("a", &["!down", A]),
            scripted("b", &[A]),
            scripted("c", &[A]),
        );
        let mut d = detector(&[&a, &b, &c], 2);
        let found = d.check(IpFamily::V4, false, 1000).await;
        assert_eq!(found.agreed, ["b", "c"]);
        assert_eq!(found.sources[0].state, SourceState::Failed);
        assert_eq!(found.sources[0].benched_until, Some(1000 + 300));
        // Benched: not asked on the next check.
        tokio::time::advance(Duration::from_secs(60)).await;
        let found = d.check(IpFamily::V4, false, 1060).await;
        assert_eq!(found.sources[0].state, SourceState::Benched);
        assert_eq!(a.asked(), 1);
        // After the bench it is asked again, and answers.
        tokio::time::advance(Duration::from_secs(300)).await;
        let found = d.check(IpFamily::V4, false, 1360).await;
        assert_eq!(found.agreed, ["a", "b"]);
        assert_eq!(a.asked(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn benches_grow_and_a_network_change_lifts_them() {
        let (a, b) = (scripted("a", &["!down"]), scripted("b", &[A]));
        let mut d = detector(&[&a, &b], 1);
        let mut benched = Vec::new();
        for _ in 0..5 {
            let found = d.check(IpFamily::V4, false, 0).await;
            assert_eq!(found.address, Ok(ip(A)));
            if let Some(until) = found.sources[0].benched_until {
                benched.push(until);
                tokio::time::advance(Duration::from_secs(until as u64 + 1)).await;
            }
        }
        assert_eq!(benched, [300, 600, 1200, 2400, 3600]);
        d.network_changed();
        a.then(&[A]);
        let found = d.check(IpFamily::V4, false, 0).await;
        assert_eq!(found.agreed, ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn spacing_reuses_the_last_answer_until_the_network_changes() {
        let provider = Arc::new(Scripted {
            interval: Duration::from_secs(600),
            ..Arc::into_inner(scripted("provider:dyndns", &[A])).unwrap()
        });
        let b = scripted("b", &[A]);
        let mut d = detector(&[&provider, &b], 2);
        assert_eq!(d.check(IpFamily::V4, false, 0).await.address, Ok(ip(A)));
        tokio::time::advance(Duration::from_secs(300)).await;
        let found = d.check(IpFamily::V4, false, 300).await;
        assert_eq!(found.address, Ok(ip(A)));
        assert!(found.sources[0].cached);
        assert_eq!(provider.asked(), 1, "asked at most every 10 minutes");
        // After a network change the remembered answer no longer counts, and the source
        // still may not be asked: no agreement until it may.
        d.network_changed();
        b.then(&[B]);
        let found = d.check(IpFamily::V4, false, 300).await;
        assert_eq!(found.sources[0].state, SourceState::Resting);
        assert!(found.address.is_err());
        assert_eq!(found.retry_after, Some(Duration::from_secs(300)));
        assert_eq!(provider.asked(), 1);
        tokio::time::advance(Duration::from_secs(300)).await;
        provider.then(&[B]);
        let found = d.check(IpFamily::V4, false, 600).await;
        assert_eq!(found.address, Ok(ip(B)));
        assert_eq!(provider.asked(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn ask_all_asks_everyone_and_agrees_in_order() {
        let (a, b, c) = (
            scripted("a", &[B]),
            scripted("b", &[A]),
            scripted("c", &[A]),
        );
        let mut d = detector(&[&a, &b, &c], 2);
        let found = d.ask_all(IpFamily::V4, false, 0).await;
        assert_eq!(found.address, Ok(ip(A)));
        assert_eq!((a.asked(), b.asked(), c.asked()), (1, 1, 1));
        assert_eq!(found.sources[0].address, Some(ip(B)));
    }

    #[tokio::test(start_paused = true)]
    async fn suspended_sources_are_skipped_and_health_survives_a_reload() {
        let (a, b) = (scripted("a", &[A]), scripted("b", &[A]));
        let mut d = detector(&[&a, &b], 2);
        d.set_suspended(["a".to_owned()].into());
        let found = d.check(IpFamily::V4, false, 0).await;
        assert_eq!(found.sources[0].state, SourceState::Suspended);
        assert!(found.address.is_err());
        a.then(&["!down"]);
        d.set_suspended(BTreeSet::new());
        d.check(IpFamily::V4, false, 0).await;
        let mut reloaded = detector(&[&a, &b], 2);
        reloaded.inherit(d);
        let found = reloaded.check(IpFamily::V4, false, 0).await;
        assert_eq!(found.sources[0].state, SourceState::Benched);
    }

    #[tokio::test(start_paused = true)]
    async fn when_every_source_fails_nobody_is_benched() {
        // The line is down: every source fails, none is to blame.
        let (a, b) = (
            scripted("a", &["!cannot connect"]),
            scripted("b", &["!cannot connect"]),
        );
        let mut d = detector(&[&a, &b], 2);
        for _ in 0..3 {
            let found = d.check(IpFamily::V4, false, 0).await;
            assert_eq!(
                found.address,
                Err("a: cannot connect; b: cannot connect".into())
            );
            assert!(found.sources.iter().all(|s| s.benched_until.is_none()));
            tokio::time::advance(Duration::from_secs(300)).await;
        }
        assert_eq!((a.asked(), b.asked()), (3, 3));
        // Back up: the very next check finds the address.
        a.then(&[A]);
        b.then(&[A]);
        assert_eq!(d.check(IpFamily::V4, false, 0).await.address, Ok(ip(A)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_local_answer_does_not_make_a_remote_failure_the_sources_fault() {
        // A static public address on the interface; the line is down: ipify fails, and
        // is not benched for it, so the first check after the line is back can agree.
        let iface = Arc::new(Scripted {
            kind: SourceKind::Interface,
            ..Arc::into_inner(scripted("interface", &[A])).unwrap()
        });
        let remote = scripted("ipify", &["!cannot connect"]);
        let mut d = detector(&[&iface, &remote], 2);
        let found = d.check(IpFamily::V4, false, 0).await;
        assert!(found.address.is_err());
        assert_eq!(found.sources[1].benched_until, None);
        remote.then(&[A]);
        assert_eq!(
            d.check(IpFamily::V4, false, 0).await.agreed,
            ["interface", "ipify"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn remembered_answers_count_in_the_users_order() {
        // b's remembered answer (B) sits between a's and c's fresh ones; a and c agree on
        // A, and b is counted where it stands in the list, not first.
        let a = scripted("a", &["!down", A]);
        let b = Arc::new(Scripted {
            interval: Duration::from_secs(600),
            ..Arc::into_inner(scripted("b", &[B])).unwrap()
        });
        let c = scripted("c", &["!down", A]);
        let mut d = detector(&[&a, &b, &c], 2);
        assert!(d.check(IpFamily::V4, false, 0).await.address.is_err());
        tokio::time::advance(Duration::from_secs(400)).await;
        let found = d.check(IpFamily::V4, false, 0).await;
        assert_eq!(found.address, Ok(ip(A)));
        assert_eq!(found.agreed, ["a", "c"]);
        assert!(found.sources[1].cached);
        assert_eq!(b.asked(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_sources_are_asked_together_and_a_deadline_bounds_the_check() {
        let hang = Duration::from_secs(60);
        let (s1, s2, a, b) = (
            slow("s1", hang),
            slow("s2", hang),
            scripted("a", &[A]),
            scripted("b", &[A]),
        );
        let mut d = detector(&[&s1, &s2, &a, &b], 2);
        let started = Instant::now();
        let found = d.check(IpFamily::V4, false, 0).await;
        // Both slow ones in one wave (one time-out, not two), then the fast pair.
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            found.sources[0].error.as_deref(),
            Some("no answer within 6 s")
        );
        assert_eq!(found.agreed, ["a", "b"]);
        // Four slow ones: after two waves the deadline has passed; no more questions.
        let (s3, s4) = (slow("s3", hang), slow("s4", hang));
        let mut d = detector(&[&s1, &s2, &s3, &s4, &a, &b], 2);
        let started = Instant::now();
        let found = d.check(IpFamily::V4, false, 0).await;
        assert!(
            started.elapsed() < Duration::from_secs(13),
            "{:?}",
            started.elapsed()
        );
        let why = found.address.unwrap_err();
        assert!(
            why.ends_with("gave up after 10 s, the rest were not asked"),
            "{why}"
        );
        assert_eq!(found.sources[3].state, SourceState::Failed);
        assert_eq!(found.sources[4].state, SourceState::Skipped);
        // A fast pair after one slow source: two waves, one time-out.
        let mut d = detector(&[&s1, &a, &b], 2);
        let started = Instant::now();
        let found = d.check(IpFamily::V4, false, 0).await;
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(found.agreed, ["a", "b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_sources_says_so() {
        let mut d = Detector::new(Vec::new(), Vec::new(), 2);
        assert_eq!(
            d.check(IpFamily::V6, false, 0).await.address,
            Err("no address source is configured for IPv6".into())
        );
    }
}
