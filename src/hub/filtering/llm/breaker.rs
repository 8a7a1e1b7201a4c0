//! The circuit breaker (closed → open → half-open → closed) that stops the client
//! hammering a provider that keeps failing.

use std::time::{Duration, Instant};

use crate::api::CircuitState;

/// What the breaker let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// The circuit is closed.
    Normal,
    /// The one half-open probe.
    Probe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_out: bool },
}

/// The breaker's state machine, on explicit instants (no clock of its own, so that it
/// is tested without sleeping). State changes are queued for the owner to publish.
#[derive(Debug)]
pub(super) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    phase: Phase,
    /// Consecutive failed attempts while closed.
    pub(super) failures: u32,
    changes: Vec<CircuitState>,
}

impl Breaker {
    pub(super) fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            phase: Phase::Closed,
            failures: 0,
            changes: Vec::new(),
        }
    }

    pub(super) fn set(&mut self, phase: Phase) {
        let before = Self::public(self.phase);
        self.phase = phase;
        let after = Self::public(phase);
        if before != after {
            self.changes.push(after);
        }
    }

    pub(super) fn public(phase: Phase) -> CircuitState {
        match phase {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Open → half-open once the cool-down has passed.
    pub(super) fn advance(&mut self, now: Instant) {
        if let Phase::Open { until } = self.phase
            && now >= until
        {
            self.set(Phase::HalfOpen { probe_out: false });
        }
    }

    pub(super) fn state(&mut self, now: Instant) -> CircuitState {
        self.advance(now);
        Self::public(self.phase)
    }

    pub(super) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// May a request go out? `None`: refused.
    pub(super) fn admit(&mut self, now: Instant) -> Option<Admit> {
        self.advance(now);
        match self.phase {
            Phase::Closed => Some(Admit::Normal),
            Phase::Open { .. } | Phase::HalfOpen { probe_out: true } => None,
            Phase::HalfOpen { probe_out: false } => {
                self.phase = Phase::HalfOpen { probe_out: true };
                Some(Admit::Probe)
            }
        }
    }

    pub(super) fn on_success(&mut self, admit: Admit) {
        match (self.phase, admit) {
            (Phase::Closed, Admit::Normal) => self.failures = 0,
            (Phase::HalfOpen { .. }, Admit::Probe) => {
                self.failures = 0;
                self.set(Phase::Closed);
            }
            // A late answer to a request sent before the circuit opened: the probe
            // decides.
            _ => {}
        }
    }

    pub(super) fn on_failure(&mut self, admit: Admit, now: Instant) {
        match (self.phase, admit) {
            (Phase::Closed, Admit::Normal) => {
                self.failures = self.failures.saturating_add(1);
                if self.failures >= self.threshold {
                    self.open(now);
                }
            }
            (Phase::HalfOpen { .. }, Admit::Probe) => self.open(now),
            _ => {}
        }
    }

    /// An attempt that says nothing of availability (an unusable answer, or a
    /// cancelled request): the count stands, a probe is given back.
    pub(super) fn on_neutral(&mut self, admit: Admit) {
        if admit == Admit::Probe && self.phase == (Phase::HalfOpen { probe_out: true }) {
            self.phase = Phase::HalfOpen { probe_out: false };
        }
    }

    pub(super) fn open(&mut self, now: Instant) {
        let until = now
            .checked_add(self.cooldown)
            .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
            .unwrap_or(now);
        self.set(Phase::Open { until });
    }

    pub(super) fn take_changes(&mut self) -> Vec<CircuitState> {
        std::mem::take(&mut self.changes)
    }
}
