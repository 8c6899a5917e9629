//! A ticket's life on the hall floor: who it is for (priority group, walk-in or appointment), its
//! state, and the clerk actions that move it (call, recall, no-show, park, unpark, transfer, start
//! and finish service, cancel). Illegal moves return a `DomainError` with a stable code, so the
//! window console can show why a button did nothing, and a double click never serves a ticket twice.
use super::ticket_no::{CategoryPrefix, TicketNo};
use crate::DomainError;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Groups that go first within a category (优先窗口 / 绿色通道).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityGroup {
    #[default]
    None,
    /// 70 岁以上老年人.
    Senior70,
    /// 残疾人.
    Disabled,
    /// 绿色通道: urgent cases a hall manager lets through (e.g. medical, enterprise emergencies).
    GreenChannel,
}

impl PriorityGroup {
    pub fn is_priority(self) -> bool {
        !matches!(self, Self::None)
    }
    /// Order among priority tickets of one category: urgent first, then seniors and the disabled
    /// together (neither outranks the other), then everyone else.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Self::GreenChannel => 0,
            Self::Senior70 | Self::Disabled => 1,
            Self::None => 2,
        }
    }
    /// 简体 label shown in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "普通",
            Self::Senior70 => "70岁以上老人",
            Self::Disabled => "残疾人",
            Self::GreenChannel => "绿色通道",
        }
    }
}

/// How the citizen came: off the street, or with a booked slot (预约) checked in at the kiosk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TicketSource {
    WalkIn,
    Appointment { slot_start: Timestamp, slot_end: Timestamp },
}

/// Where a ticket stands. There is no separate `Transferred` state: a transferred ticket keeps its
/// number (the citizen holds the slip) and goes back to `Waiting` in its new category, flagged as
/// returned; the event log records the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// In the queue, callable.
    Waiting,
    /// Called to a window; the citizen is expected there.
    Called,
    /// At the window, being served.
    Serving,
    /// Set aside by the window (e.g. the citizen went to copy a document); skipped until unparked.
    Parked,
    /// Called and did not come (过号). Final.
    NoShow,
    /// Served. Final.
    Done,
    /// Withdrawn (citizen left, hall closed). Final.
    Cancelled,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Called => "called",
            Self::Serving => "serving",
            Self::Parked => "parked",
            Self::NoShow => "no_show",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }
    pub fn is_final(self) -> bool {
        matches!(self, Self::NoShow | Self::Done | Self::Cancelled)
    }
    /// The state after `action`, or `None` if the action is not allowed from here.
    /// This table is the whole state machine; the methods on [`Ticket`] add the ownership checks.
    pub fn after(self, action: TicketAction) -> Option<TicketState> {
        use TicketAction as A;
        use TicketState as S;
        match (self, action) {
            (S::Waiting, A::Call) => Some(S::Called),
            (S::Called, A::Recall) => Some(S::Called),
            (S::Called, A::NoShow) => Some(S::NoShow),
            (S::Called, A::StartService) => Some(S::Serving),
            (S::Serving, A::Finish) => Some(S::Done),
            (S::Called | S::Serving, A::Park) => Some(S::Parked),
            (S::Parked, A::Unpark) => Some(S::Waiting),
            (S::Called | S::Serving, A::Transfer) => Some(S::Waiting),
            (S::Waiting | S::Parked, A::Cancel) => Some(S::Cancelled),
            _ => None,
        }
    }
}

/// The clerk (or kiosk) actions on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketAction {
    Call,
    Recall,
    NoShow,
    StartService,
    Finish,
    Park,
    Unpark,
    Transfer,
    Cancel,
}

impl TicketAction {
    pub const ALL: [TicketAction; 9] = [
        Self::Call,
        Self::Recall,
        Self::NoShow,
        Self::StartService,
        Self::Finish,
        Self::Park,
        Self::Unpark,
        Self::Transfer,
        Self::Cancel,
    ];
    /// The stable error code when this action is tried from a state that does not allow it.
    fn wrong_state_code(self) -> &'static str {
        match self {
            Self::Call => "ticket_not_waiting",
            Self::Recall | Self::NoShow | Self::StartService => "ticket_not_called",
            Self::Finish => "ticket_not_serving",
            Self::Park | Self::Transfer => "ticket_not_at_window",
            Self::Unpark => "ticket_not_parked",
            Self::Cancel => "ticket_not_cancellable",
        }
    }
}

/// One ticket of the day. `W` is the window identifier of the caller's choosing (a row id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket<W> {
    pub no: TicketNo,
    /// The category it waits in now (the prefix of `no` is where it started; a transfer moves it).
    pub category: CategoryPrefix,
    pub priority: PriorityGroup,
    pub source: TicketSource,
    pub issued_at: Timestamp,
    pub state: TicketState,
    /// The window that holds it while Called, Serving or Parked; after Done or NoShow, the window
    /// that served it or called it in vain (kept for the window's figures). None while Waiting.
    pub window: Option<W>,
    pub called_at: Option<Timestamp>,
    pub recalls: u32,
    pub service_started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Set when it came back to the queue by a transfer or an unpark: it then goes ahead of others.
    pub returned_at: Option<Timestamp>,
    /// Only this window may call it (a transfer to a named window, or back to the parking window).
    pub target_window: Option<W>,
}

impl<W: Copy + Eq> Ticket<W> {
    /// Takes a ticket (取号).
    pub fn take(no: TicketNo, priority: PriorityGroup, source: TicketSource, now: Timestamp) -> Self {
        Self {
            category: no.prefix().clone(),
            no,
            priority,
            source,
            issued_at: now,
            state: TicketState::Waiting,
            window: None,
            called_at: None,
            recalls: 0,
            service_started_at: None,
            finished_at: None,
            returned_at: None,
            target_window: None,
        }
    }

    fn step(&mut self, action: TicketAction) -> Result<(), DomainError> {
        let next = self.state.after(action).ok_or_else(|| {
            DomainError::conflict(
                action.wrong_state_code(),
                format!("号码 {} 当前状态（{}）不允许此操作", self.no, self.state.as_str()),
            )
        })?;
        self.state = next;
        Ok(())
    }

    fn check_mine(&self, window: W) -> Result<(), DomainError> {
        if self.window != Some(window) {
            return Err(DomainError::conflict(
                "ticket_not_yours",
                format!("号码 {} 不在本窗口", self.no),
            ));
        }
        Ok(())
    }

    /// Calls it to `window` (叫号). A ticket sent to a named window can be called only there.
    pub fn call(&mut self, window: W, now: Timestamp) -> Result<(), DomainError> {
        if self.state == TicketState::Waiting && self.target_window.is_some_and(|t| t != window) {
            return Err(DomainError::conflict(
                "ticket_not_yours",
                format!("号码 {} 已转至其他窗口", self.no),
            ));
        }
        self.step(TicketAction::Call)?;
        self.window = Some(window);
        self.called_at = Some(now);
        self.target_window = None;
        Ok(())
    }

    /// Calls it again (重呼). `max_recalls` comes from [`super::QueuePolicy`].
    pub fn recall(&mut self, window: W, max_recalls: u32) -> Result<(), DomainError> {
        self.check_state(TicketAction::Recall)?;
        self.check_mine(window)?;
        if self.recalls >= max_recalls {
            return Err(DomainError::conflict(
                "recall_limit_reached",
                format!("号码 {} 已重呼 {} 次，请按过号处理", self.no, self.recalls),
            ));
        }
        self.step(TicketAction::Recall)?;
        self.recalls += 1;
        Ok(())
    }

    /// Marks it a no-show (过号).
    pub fn no_show(&mut self, window: W, now: Timestamp) -> Result<(), DomainError> {
        self.check_state(TicketAction::NoShow)?;
        self.check_mine(window)?;
        self.step(TicketAction::NoShow)?;
        self.finished_at = Some(now);
        Ok(())
    }

    /// The citizen arrived at the window: service starts (the call-to-accept time ends here).
    pub fn start_service(&mut self, window: W, now: Timestamp) -> Result<(), DomainError> {
        self.check_state(TicketAction::StartService)?;
        self.check_mine(window)?;
        self.step(TicketAction::StartService)?;
        self.service_started_at = Some(now);
        Ok(())
    }

    /// Service is over; the rating token is issued by the caller.
    pub fn finish(&mut self, window: W, now: Timestamp) -> Result<(), DomainError> {
        self.check_state(TicketAction::Finish)?;
        self.check_mine(window)?;
        self.step(TicketAction::Finish)?;
        self.finished_at = Some(now);
        Ok(())
    }

    /// Sets it aside; the window stays attached so the ticket comes back to it when unparked.
    pub fn park(&mut self, window: W) -> Result<(), DomainError> {
        self.check_state(TicketAction::Park)?;
        self.check_mine(window)?;
        self.step(TicketAction::Park)
    }

    /// Puts a parked ticket back in the queue, ahead of others, for the window that parked it.
    /// Anyone may unpark (the clerk, or the kiosk when the citizen is back).
    pub fn unpark(&mut self, now: Timestamp) -> Result<(), DomainError> {
        self.step(TicketAction::Unpark)?;
        self.target_window = self.window.take();
        self.returned_at = Some(now);
        Ok(())
    }

    /// Sends it to another category, and optionally to one named window; it waits there ahead of
    /// others. The citizen keeps the same number.
    pub fn transfer(
        &mut self,
        window: W,
        to_category: CategoryPrefix,
        to_window: Option<W>,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        self.check_state(TicketAction::Transfer)?;
        self.check_mine(window)?;
        self.step(TicketAction::Transfer)?;
        self.category = to_category;
        self.window = None;
        self.target_window = to_window;
        self.returned_at = Some(now);
        self.called_at = None;
        self.service_started_at = None;
        self.recalls = 0;
        Ok(())
    }

    /// Withdraws a waiting or parked ticket.
    pub fn cancel(&mut self, now: Timestamp) -> Result<(), DomainError> {
        self.step(TicketAction::Cancel)?;
        self.window = None;
        self.finished_at = Some(now);
        Ok(())
    }

    fn check_state(&self, action: TicketAction) -> Result<(), DomainError> {
        match self.state.after(action) {
            Some(_) => Ok(()),
            None => Err(DomainError::conflict(
                action.wrong_state_code(),
                format!("号码 {} 当前状态（{}）不允许此操作", self.no, self.state.as_str()),
            )),
        }
    }

    /// The view the queue policy needs, if the ticket is in the queue (waiting or parked).
    pub fn as_waiting<T>(&self, id: T) -> Option<super::WaitingTicket<T, W>> {
        let parked = match self.state {
            TicketState::Waiting => false,
            TicketState::Parked => true,
            _ => return None,
        };
        Some(super::WaitingTicket {
            id,
            category: self.category.clone(),
            priority: self.priority,
            source: self.source,
            issued_at: self.issued_at,
            returned_at: self.returned_at,
            target_window: self.target_window,
            parked,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2026-03-18T01:00:00Z".parse().unwrap()
    }
    fn ticket() -> Ticket<u32> {
        Ticket::take(
            TicketNo::parse("A023").unwrap(),
            PriorityGroup::None,
            TicketSource::WalkIn,
            t0(),
        )
    }

    #[test]
    fn happy_path_call_serve_finish() {
        let mut t = ticket();
        t.call(1, t0()).unwrap();
        t.recall(1, 3).unwrap();
        t.start_service(1, t0()).unwrap();
        t.finish(1, t0()).unwrap();
        assert_eq!(t.state, TicketState::Done);
        assert_eq!(t.recalls, 1);
    }

    #[test]
    fn illegal_moves_have_stable_codes() {
        let mut t = ticket();
        assert_eq!(t.finish(1, t0()).map_err(|e| e.code()), Err("ticket_not_serving"));
        assert_eq!(t.no_show(1, t0()).map_err(|e| e.code()), Err("ticket_not_called"));
        t.call(1, t0()).unwrap();
        assert_eq!(t.call(1, t0()).map_err(|e| e.code()), Err("ticket_not_waiting"));
        assert_eq!(t.start_service(2, t0()).map_err(|e| e.code()), Err("ticket_not_yours"));
        t.recall(1, 1).unwrap();
        assert_eq!(t.recall(1, 1).map_err(|e| e.code()), Err("recall_limit_reached"));
        t.no_show(1, t0()).unwrap();
        assert_eq!(t.unpark(t0()).map_err(|e| e.code()), Err("ticket_not_parked"));
        assert_eq!(t.cancel(t0()).map_err(|e| e.code()), Err("ticket_not_cancellable"));
    }

    #[test]
    fn park_and_unpark_return_to_the_same_window_ahead() {
        let mut t = ticket();
        t.call(1, t0()).unwrap();
        t.start_service(1, t0()).unwrap();
        t.park(1).unwrap();
        assert!(t.as_waiting(7u64).unwrap().parked);
        assert_eq!(t.call(1, t0()).map_err(|e| e.code()), Err("ticket_not_waiting"));
        t.unpark(t0()).unwrap();
        let w = t.as_waiting(7u64).unwrap();
        assert!(!w.parked);
        assert_eq!(w.target_window, Some(1));
        assert_eq!(t.call(2, t0()).map_err(|e| e.code()), Err("ticket_not_yours"));
        t.call(1, t0()).unwrap();
    }

    #[test]
    fn transfer_keeps_the_number_and_changes_category() {
        let mut t = ticket();
        t.call(1, t0()).unwrap();
        let b = CategoryPrefix::parse("B").unwrap();
        t.transfer(1, b.clone(), None, t0()).unwrap();
        assert_eq!(t.state, TicketState::Waiting);
        assert_eq!(t.category, b);
        assert_eq!(t.no.to_string(), "A023");
        assert!(t.returned_at.is_some());
        t.call(5, t0()).unwrap();
    }

    fn apply(t: &mut Ticket<u32>, action: TicketAction, window: u32) -> Result<(), DomainError> {
        let b = CategoryPrefix::parse("B").unwrap();
        match action {
            TicketAction::Call => t.call(window, t0()),
            TicketAction::Recall => t.recall(window, 2),
            TicketAction::NoShow => t.no_show(window, t0()),
            TicketAction::StartService => t.start_service(window, t0()),
            TicketAction::Finish => t.finish(window, t0()),
            TicketAction::Park => t.park(window),
            TicketAction::Unpark => t.unpark(t0()),
            TicketAction::Transfer => t.transfer(window, b, Some(window + 1).filter(|w| w % 2 == 0), t0()),
            TicketAction::Cancel => t.cancel(t0()),
        }
    }

    proptest::proptest! {
        /// Any sequence of clerk actions follows the transition table, and a refused action leaves
        /// the ticket exactly as it was.
        #[test]
        fn actions_follow_the_table(steps in proptest::collection::vec(
            (proptest::sample::select(TicketAction::ALL.to_vec()), 1u32..3), 0..30)) {
            let mut t = ticket();
            for (action, window) in steps {
                let before = t.clone();
                match apply(&mut t, action, window) {
                    Ok(()) => proptest::prop_assert_eq!(Some(t.state), before.state.after(action)),
                    Err(_) => proptest::prop_assert_eq!(&t, &before),
                }
                let holds_window = match t.state {
                    TicketState::Waiting | TicketState::Cancelled => false,
                    TicketState::Called
                    | TicketState::Serving
                    | TicketState::Parked
                    | TicketState::NoShow
                    | TicketState::Done => true,
                };
                proptest::prop_assert_eq!(t.window.is_some(), holds_window);
            }
        }
    }

    #[test]
    fn final_states_allow_nothing() {
        for s in [TicketState::NoShow, TicketState::Done, TicketState::Cancelled] {
            assert!(s.is_final());
            assert!(TicketAction::ALL.iter().all(|a| s.after(*a).is_none()));
        }
    }
}
