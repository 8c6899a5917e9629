//! The pick: which waiting ticket a window calls next. The order is described in the module doc of
//! `queue`; this file implements it as one sort key so that the order is total and explainable.
use super::ticket::{PriorityGroup, TicketSource};
use super::ticket_no::CategoryPrefix;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Queue rules a region may override. Defaults follow common hall practice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePolicy {
    /// Aging: a ticket that has waited this long (since it was taken) overtakes priority and
    /// appointment tickets and the window's category ranks. 30 minutes, the hall KPI threshold.
    pub max_wait: SignedDuration,
    /// An appointment checked in this early before its slot already counts as in its slot.
    pub appointment_early_grace: SignedDuration,
    /// An appointment keeps its place this long after its slot ends; later it is a walk-in.
    pub appointment_late_grace: SignedDuration,
    /// How many times a window may recall (重呼) before it must mark a no-show.
    pub max_recalls: u32,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            max_wait: SignedDuration::from_mins(30),
            appointment_early_grace: SignedDuration::from_mins(15),
            appointment_late_grace: SignedDuration::from_mins(10),
            max_recalls: 2,
        }
    }
}

/// A category a window serves, with its rank at that window: 1 is its main category, 2 the next...
/// A lower rank is served first when no rule above it decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedCategory {
    pub category: CategoryPrefix,
    pub rank: u8,
}

/// What a window serves right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowServing<W> {
    pub window: W,
    pub categories: Vec<ServedCategory>,
}

impl<W> WindowServing<W> {
    pub fn rank_of(&self, category: &CategoryPrefix) -> Option<u8> {
        self.categories
            .iter()
            .filter(|c| &c.category == category)
            .map(|c| c.rank)
            .min()
    }
}

/// A ticket in the queue as the policy sees it. `T` is the ticket id, `W` the window id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingTicket<T, W> {
    pub id: T,
    pub category: CategoryPrefix,
    pub priority: PriorityGroup,
    pub source: TicketSource,
    pub issued_at: Timestamp,
    /// Set when it came back by a transfer or an unpark; such tickets go ahead of others.
    pub returned_at: Option<Timestamp>,
    /// Only this window may call it.
    pub target_window: Option<W>,
    pub parked: bool,
}

impl<T, W: PartialEq> WaitingTicket<T, W> {
    /// Whether `window` may call it at all: not parked, not reserved for another window, and either
    /// in a category the window serves or sent to this window by name.
    pub fn eligible_at(&self, window: &WindowServing<W>) -> bool {
        if self.parked {
            return false;
        }
        match &self.target_window {
            Some(t) => *t == window.window,
            None => window.rank_of(&self.category).is_some(),
        }
    }

    /// Whether it has waited past the aging limit.
    pub fn is_overdue(&self, now: Timestamp, policy: &QueuePolicy) -> bool {
        now.duration_since(self.issued_at) >= policy.max_wait
    }

    /// Whether it is an appointment checked in and now inside its slot (with the grace margins).
    pub fn in_slot(&self, now: Timestamp, policy: &QueuePolicy) -> bool {
        match self.source {
            TicketSource::WalkIn => false,
            TicketSource::Appointment { slot_start, slot_end } => {
                let opens = slot_start
                    .checked_sub(policy.appointment_early_grace)
                    .unwrap_or(slot_start);
                let closes = slot_end.checked_add(policy.appointment_late_grace).unwrap_or(slot_end);
                opens <= now && now <= closes
            }
        }
    }
}

/// Why a ticket was picked: the tier of the sort key. Shown on the console ("优先" / "预约" / ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickReason {
    /// Came back by transfer or unpark.
    Returned,
    /// Waited past `max_wait`.
    Overdue,
    /// A priority group within its category.
    Priority,
    /// An appointment within its slot.
    Appointment,
    /// Everyone else, first come first served.
    InTurn,
}

/// The sort key; the smallest key is called. Fields in order of precedence:
/// (tier, window rank of the category, reason, sub-rank, primary time, issued_at, input index).
/// Tier 0 = returned, 1 = overdue, 2 = everything else; the reason orders classes inside a category.
type Key = (u8, u8, PickReason, u8, Timestamp, Timestamp, usize);

fn key<T, W: PartialEq>(
    window: &WindowServing<W>,
    t: &WaitingTicket<T, W>,
    index: usize,
    now: Timestamp,
    policy: &QueuePolicy,
) -> Key {
    // A ticket sent here by name may be of a category the window does not list: rank it last.
    let rank = window.rank_of(&t.category).unwrap_or(u8::MAX);
    if let Some(returned_at) = t.returned_at {
        // Sent to this window by name goes before sent to the category.
        let by_name = u8::from(t.target_window.is_none());
        return (0, by_name, PickReason::Returned, rank, returned_at, t.issued_at, index);
    }
    if t.is_overdue(now, policy) {
        // Oldest first across all the window's categories and classes: that is what bounds a wait.
        return (1, 0, PickReason::Overdue, 0, t.issued_at, t.issued_at, index);
    }
    if t.priority.is_priority() {
        return (
            2,
            rank,
            PickReason::Priority,
            t.priority.rank(),
            t.issued_at,
            t.issued_at,
            index,
        );
    }
    if t.in_slot(now, policy)
        && let TicketSource::Appointment { slot_start, .. } = t.source
    {
        return (2, rank, PickReason::Appointment, 0, slot_start, t.issued_at, index);
    }
    (2, rank, PickReason::InTurn, 0, t.issued_at, t.issued_at, index)
}

/// The policy's pick for `window`, with the reason, or `None` if nothing is callable there.
pub fn choose_next_with_reason<T: Copy, W: PartialEq>(
    window: &WindowServing<W>,
    waiting: &[WaitingTicket<T, W>],
    now: Timestamp,
    policy: &QueuePolicy,
) -> Option<(T, PickReason)> {
    waiting
        .iter()
        .enumerate()
        .filter(|(_, t)| t.eligible_at(window))
        .map(|(i, t)| (key(window, t, i, now, policy), t.id))
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(k, id)| (id, k.2))
}

/// The policy's pick for `window`, or `None` if nothing is callable there.
pub fn choose_next<T: Copy, W: PartialEq>(
    window: &WindowServing<W>,
    waiting: &[WaitingTicket<T, W>],
    now: Timestamp,
    policy: &QueuePolicy,
) -> Option<T> {
    choose_next_with_reason(window, waiting, now, policy).map(|(id, _)| id)
}
