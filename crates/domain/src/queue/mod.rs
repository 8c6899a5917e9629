//! The hall queue (取号 / 叫号): ticket numbers, the ticket state machine, the policy that picks the
//! next ticket for a window, the estimated wait, and the booking block for appointment no-shows.
//! Pure rules: no I/O, and `now` is always a parameter.
//!
//! # Who is called next
//!
//! A window serves a list of categories, each with a rank (1 = its main category). A waiting ticket
//! is *eligible* at a window when it is not parked and either (a) it was sent to this window by name,
//! or (b) it is not reserved for another window and its category is one the window serves.
//! Among the eligible tickets the smallest of these keys is called, compared in this order:
//!
//! 1. **Returned tickets** (transferred, or unparked) go before everything else: the citizen has
//!    already waited once. Sent to this window by name before sent to a category; then by the
//!    window's category rank; then the earliest return first.
//! 2. **Overdue tickets** (aging): a ticket that has waited `QueuePolicy::max_wait` (30 min by
//!    default) since it was taken goes next, whatever its category rank, priority group or source.
//!    Overdue tickets are called oldest first.
//! 3. Everything else, by the **window's category rank**, and within one category:
//!    1. **priority groups**: 绿色通道 first, then people over 70 and the disabled together;
//!    2. **appointments within their slot** (checked in, `slot_start − early_grace ≤ now ≤
//!       slot_end + late_grace`), earliest slot first. Before the margin or after it, an
//!       appointment queues as a walk-in;
//!    3. **walk-ins**, first come first served.
//!
//! Ties fall to the earlier `issued_at`, then to the order of the input slice, so the pick is a pure
//! function of its inputs.
//!
//! ## Fairness: why no ticket waits forever
//!
//! Aging was chosen over a cap on consecutive priority calls because it bounds the wait in minutes,
//! which is what the hall is judged on, and it also covers a low-rank category at a shared window.
//! Bound: once a ticket is overdue, only returned tickets (made by clerk actions, so finitely many)
//! and overdue tickets taken before it can go ahead of it. So at a window that keeps calling its
//! categories, a ticket is called at the latest after `max_wait` plus the calls needed for the
//! returned tickets and for the tickets that were already waiting when it was taken. The property
//! test `every_walk_in_is_called_within_the_aging_bound` checks this bound under an endless stream of
//! priority tickets. The price: an overdue walk-in can delay an appointment inside its slot; with a
//! sensible `max_wait` this happens only when the hall is already overloaded.
//!
//! # Estimated wait
//!
//! `estimate_wait` = (tickets ahead + ½) × service time ÷ effective windows, where
//! - *service time* is the category's recent typical service: an exponentially weighted moving
//!   average (α = 0.1) over its newest 40 samples, started at their median, each sample clipped at
//!   3 × median so that one long case does not inflate everyone's estimate; 8 minutes until the
//!   category has samples;
//! - *effective windows* counts every open window serving the category by a share: its categories
//!   weigh 1, ½, ¼ ... by rank, and the category gets its weight over the window's total (a window
//!   serving A first and B second counts ⅔ for A and ⅓ for B);
//! - the ½ stands for the services already under way when the ticket is taken.
//!
//! It returns `None` when no open window serves the category. `simulate_estimator` runs a seeded
//! simulation (lognormal service times, which the estimator does not assume, Poisson arrivals,
//! several windows) through the real `choose_next` and reports the error of the estimates.
//!
//! # Region settings
//!
//! The numbers of the policy (`queue.policy`: `max_wait`, the appointment graces, `max_recalls`) and
//! of the estimator (`queue.estimator`) are region settings, inherited down the region tree
//! (`tuning.rs`). Their validation keeps `max_wait` between 1 and 240 minutes, so the fairness
//! bound above holds for every value a region can store; the property test
//! `fairness_holds_for_every_allowed_policy_setting` checks it over the whole allowed range.
//!
//! # Booking block
//!
//! `booking_blocked`: `max_no_shows` missed appointments within `within_days` days block booking for
//! `block_days` days from the last of them (3 in 30 → 7 by default); misses that caused a block are
//! spent. See `no_show.rs`.

mod estimate;
mod no_show;
mod policy;
mod ticket;
mod ticket_no;
mod tuning;

pub use estimate::{
    EstimatorConfig, EstimatorSimConfig, EstimatorSimReport, ServiceSample, SplitMix64, WaitEstimate,
    effective_windows, estimate_wait, service_time, simulate_estimator,
};
pub use no_show::{NoShowRule, NoShowSetting, booking_blocked};
pub use policy::{
    PickReason, QueuePolicy, ServedCategory, WaitingTicket, WindowServing, choose_next, choose_next_with_reason,
};
pub use ticket::{PriorityGroup, Ticket, TicketAction, TicketSource, TicketState};
pub use ticket_no::{CategoryPrefix, TicketNo};
pub use tuning::{EstimatorSetting, EstimatorValue, MAX_WAIT_LIMIT_MIN, QueuePolicySetting, QueuePolicyValue};

#[cfg(test)]
mod tests;
