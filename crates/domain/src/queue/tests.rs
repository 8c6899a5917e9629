//! Properties of the call policy (`choose_next`), stated as the hall would state them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

const HERE: u8 = 0;

fn now() -> Timestamp {
    "2026-03-18T02:00:00Z".parse().unwrap()
}
fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}
fn cat(s: &str) -> CategoryPrefix {
    CategoryPrefix::parse(s).unwrap()
}
fn window(cats: &[(&str, u8)]) -> WindowServing<u8> {
    WindowServing {
        window: HERE,
        categories: cats
            .iter()
            .map(|(c, r)| ServedCategory {
                category: cat(c),
                rank: *r,
            })
            .collect(),
    }
}
fn walk_in(id: u32, c: &str, waited: i64) -> WaitingTicket<u32, u8> {
    WaitingTicket {
        id,
        category: cat(c),
        priority: PriorityGroup::None,
        source: TicketSource::WalkIn,
        issued_at: now() - mins(waited),
        returned_at: None,
        target_window: None,
        parked: false,
    }
}

#[test]
fn the_order_on_one_example() {
    let w = window(&[("A", 1), ("B", 2)]);
    let p = QueuePolicy::default();
    let slot = TicketSource::Appointment {
        slot_start: now() - mins(5),
        slot_end: now() + mins(10),
    };
    let mut q = vec![
        walk_in(1, "A", 20),
        WaitingTicket {
            source: slot,
            ..walk_in(2, "A", 3)
        },
        WaitingTicket {
            priority: PriorityGroup::Senior70,
            ..walk_in(3, "A", 1)
        },
        WaitingTicket {
            priority: PriorityGroup::GreenChannel,
            ..walk_in(4, "A", 0)
        },
        WaitingTicket {
            priority: PriorityGroup::GreenChannel,
            ..walk_in(5, "B", 25)
        },
        walk_in(6, "B", 40),
        WaitingTicket {
            returned_at: Some(now() - mins(1)),
            ..walk_in(7, "B", 10)
        },
        WaitingTicket {
            returned_at: Some(now()),
            target_window: Some(HERE),
            ..walk_in(8, "C", 2)
        },
        WaitingTicket {
            returned_at: Some(now() - mins(9)),
            target_window: Some(9),
            ..walk_in(9, "A", 2)
        },
        WaitingTicket {
            parked: true,
            ..walk_in(10, "A", 50)
        },
        walk_in(11, "D", 60),
    ];
    let mut order = Vec::new();
    while let Some((id, why)) = choose_next_with_reason(&w, &q, now(), &p) {
        order.push((id, why));
        q.retain(|t| t.id != id);
    }
    use PickReason::*;
    assert_eq!(
        order,
        vec![
            (8, Returned),    // sent to this window by name
            (7, Returned),    // transferred into B
            (6, Overdue),     // waited 40 min > 30
            (4, Priority),    // A: green channel
            (3, Priority),    // A: senior
            (2, Appointment), // A: in its slot
            (1, InTurn),      // A: walk-in
            (5, Priority),    // B is this window's second category
        ]
    );
    // 9 is reserved for window 9, 10 is parked, 11 is of a category this window does not serve.
}

#[test]
fn appointments_outside_their_slot_queue_as_walk_ins() {
    let w = window(&[("A", 1)]);
    let p = QueuePolicy::default();
    let early = TicketSource::Appointment {
        slot_start: now() + mins(40),
        slot_end: now() + mins(55),
    };
    let late = TicketSource::Appointment {
        slot_start: now() - mins(40),
        slot_end: now() - mins(25),
    };
    let q = vec![
        walk_in(1, "A", 10),
        WaitingTicket {
            source: early,
            ..walk_in(2, "A", 5)
        },
        WaitingTicket {
            source: late,
            ..walk_in(3, "A", 5)
        },
    ];
    assert_eq!(
        choose_next_with_reason(&w, &q, now(), &p),
        Some((1, PickReason::InTurn))
    );
}

#[test]
fn nothing_callable_gives_none() {
    let w = window(&[("A", 1)]);
    let q = vec![
        WaitingTicket {
            parked: true,
            ..walk_in(1, "A", 10)
        },
        walk_in(2, "B", 10),
    ];
    assert_eq!(choose_next(&w, &q, now(), &QueuePolicy::default()), None);
}

fn arb_category() -> impl Strategy<Value = CategoryPrefix> {
    prop_oneof![Just(cat("A")), Just(cat("B")), Just(cat("C")), Just(cat("GC"))]
}
fn arb_priority() -> impl Strategy<Value = PriorityGroup> {
    prop_oneof![
        3 => Just(PriorityGroup::None),
        1 => Just(PriorityGroup::Senior70),
        1 => Just(PriorityGroup::Disabled),
        1 => Just(PriorityGroup::GreenChannel),
    ]
}
fn arb_source() -> impl Strategy<Value = TicketSource> {
    prop_oneof![
        2 => Just(TicketSource::WalkIn),
        1 => (-90i64..90, 5i64..30).prop_map(|(start, len)| TicketSource::Appointment {
            slot_start: now() + mins(start),
            slot_end: now() + mins(start + len),
        }),
    ]
}
prop_compose! {
    fn arb_ticket()(
        category in arb_category(),
        priority in arb_priority(),
        source in arb_source(),
        waited in 0i64..60,
        returned in proptest::option::weighted(0.15, 0i64..30),
        target in proptest::option::weighted(0.15, 0u8..3),
        parked in proptest::bool::weighted(0.15),
    ) -> WaitingTicket<u32, u8> {
        WaitingTicket {
            id: 0,
            category,
            priority,
            source,
            issued_at: now() - mins(waited),
            returned_at: returned.map(|r| now() - mins(r.min(waited))),
            target_window: target,
            parked,
        }
    }
}
prop_compose! {
    fn arb_queue()(mut q in proptest::collection::vec(arb_ticket(), 0..40)) -> Vec<WaitingTicket<u32, u8>> {
        for (i, t) in q.iter_mut().enumerate() {
            t.id = i as u32;
        }
        q
    }
}
prop_compose! {
    fn arb_window()(cats in proptest::sample::subsequence(vec!["A", "B", "C", "GC"], 1..=4),
                    ranks in proptest::collection::vec(1u8..4, 4)) -> WindowServing<u8> {
        WindowServing {
            window: HERE,
            categories: cats.iter().zip(ranks).map(|(c, rank)| ServedCategory { category: cat(c), rank }).collect(),
        }
    }
}
prop_compose! {
    fn arb_policy()(max_wait in prop_oneof![Just(30i64), 5i64..60, Just(100_000)]) -> QueuePolicy {
        QueuePolicy { max_wait: mins(max_wait), ..QueuePolicy::default() }
    }
}

/// Tickets of the same category that the pick was allowed to pass over for the reason `why`.
fn same_category_eligible<'a>(
    w: &'a WindowServing<u8>,
    q: &'a [WaitingTicket<u32, u8>],
    picked: &'a WaitingTicket<u32, u8>,
) -> impl Iterator<Item = &'a WaitingTicket<u32, u8>> {
    q.iter()
        .filter(move |t| t.id != picked.id && t.category == picked.category && t.eligible_at(w))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The pick is a waiting, unparked ticket this window may call: of a category it serves (and not
    /// reserved for another window), or sent to it by name. Something is picked whenever one exists.
    #[test]
    fn pick_is_callable_here(w in arb_window(), q in arb_queue(), p in arb_policy()) {
        let pick = choose_next(&w, &q, now(), &p);
        let callable: Vec<u32> = q.iter().filter(|t| t.eligible_at(&w)).map(|t| t.id).collect();
        match pick {
            None => prop_assert!(callable.is_empty()),
            Some(id) => {
                let t = &q[id as usize];
                prop_assert!(!t.parked);
                prop_assert!(
                    t.target_window == Some(HERE)
                        || (t.target_window.is_none() && w.rank_of(&t.category).is_some())
                );
            }
        }
    }

    /// A window never picks a parked ticket, even when parked tickets are all there is.
    #[test]
    fn parked_tickets_are_never_picked(w in arb_window(), mut q in arb_queue(), p in arb_policy()) {
        for t in q.iter_mut() {
            t.parked = true;
        }
        prop_assert_eq!(choose_next(&w, &q, now(), &p), None);
    }

    /// A returned (transferred or unparked) ticket goes before every ticket that was not returned,
    /// of its category and indeed of any.
    #[test]
    fn returned_tickets_go_first(w in arb_window(), q in arb_queue(), p in arb_policy()) {
        if let Some(id) = choose_next(&w, &q, now(), &p) {
            let picked = &q[id as usize];
            let returned_waiting = q.iter().any(|t| t.returned_at.is_some() && t.eligible_at(&w));
            prop_assert_eq!(picked.returned_at.is_some(), returned_waiting);
        }
    }

    /// Within a category, a priority group goes before an ordinary ticket, unless aging let the
    /// ordinary ticket through (it is overdue) or it was returned.
    #[test]
    fn priority_before_ordinary_unless_aged(w in arb_window(), q in arb_queue(), p in arb_policy()) {
        if let Some(id) = choose_next(&w, &q, now(), &p) {
            let picked = &q[id as usize];
            if !picked.priority.is_priority() && picked.returned_at.is_none() && !picked.is_overdue(now(), &p) {
                let passed_over = same_category_eligible(&w, &q, picked).any(|t| t.priority.is_priority());
                prop_assert!(!passed_over);
            }
        }
    }

    /// Within a category, an appointment inside its slot goes before walk-ins (and before
    /// appointments outside their slot), unless aging or a return decided.
    #[test]
    fn appointments_in_slot_before_walk_ins(w in arb_window(), q in arb_queue(), p in arb_policy()) {
        if let Some(id) = choose_next(&w, &q, now(), &p) {
            let picked = &q[id as usize];
            let decided_above = picked.returned_at.is_some()
                || picked.is_overdue(now(), &p)
                || picked.priority.is_priority();
            if !decided_above && !picked.in_slot(now(), &p) {
                let passed_over = same_category_eligible(&w, &q, picked).any(|t| t.in_slot(now(), &p));
                prop_assert!(!passed_over);
            }
        }
    }

    /// The pick does not depend on where the callable tickets sit in the slice, apart from exact ties.
    #[test]
    fn pick_ignores_input_order_but_for_ties(w in arb_window(), q in arb_queue(), p in arb_policy()) {
        let mut rev = q.clone();
        rev.reverse();
        let a = choose_next_with_reason(&w, &q, now(), &p);
        let b = choose_next_with_reason(&w, &rev, now(), &p);
        prop_assert_eq!(a.map(|x| x.1), b.map(|x| x.1));
    }
}

/// One window, calling one ticket a minute, under an endless stream of priority tickets. Returns
/// for every ordinary ticket (issued minute, tickets waiting when it was taken, minute called).
fn run_floor(
    policy: &QueuePolicy,
    minutes: usize,
    priority_per_minute: &[u8],
    ordinary: &[Option<bool>],
) -> Vec<(usize, usize, Option<usize>)> {
    // The window serves A first and B second, so B is also exposed to A's stream.
    let w = window(&[("A", 1), ("B", 2)]);
    let mut q: Vec<WaitingTicket<u32, u8>> = Vec::new();
    let mut next_id = 0u32;
    let mut watched: Vec<(u32, usize, usize, Option<usize>)> = Vec::new();
    let mut minute = 0;
    loop {
        let t = now() + mins(minute as i64);
        if minute < minutes {
            for _ in 0..priority_per_minute[minute % priority_per_minute.len()] {
                q.push(WaitingTicket {
                    id: next_id,
                    issued_at: t,
                    priority: PriorityGroup::Senior70,
                    ..walk_in(0, "A", 0)
                });
                next_id += 1;
            }
            if let Some(in_b) = ordinary[minute % ordinary.len()] {
                watched.push((next_id, minute, q.len(), None));
                q.push(WaitingTicket {
                    id: next_id,
                    issued_at: t,
                    ..walk_in(0, if in_b { "B" } else { "A" }, 0)
                });
                next_id += 1;
            }
        } else if q.is_empty() {
            break;
        }
        if let Some(id) = choose_next(&w, &q, t, policy) {
            q.retain(|x| x.id != id);
            if let Some(row) = watched.iter_mut().find(|r| r.0 == id) {
                row.3 = Some(minute);
            }
        }
        minute += 1;
        if minute > minutes * 10 + 1_000 {
            break; // only reached when aging is off and the queue never drains
        }
    }
    watched
        .into_iter()
        .map(|(_, issued, ahead, called)| (issued, ahead, called))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Fairness: however many priority tickets keep coming (at least one a minute, i.e. as many as
    /// the window can call), every ordinary ticket is called within
    /// `max_wait + tickets already waiting when it was taken + 1` minutes.
    #[test]
    fn every_walk_in_is_called_within_the_aging_bound(
        max_wait in 1i64..20,
        minutes in 30usize..150,
        priority_per_minute in proptest::collection::vec(1u8..=2, 1..10),
        ordinary in proptest::collection::vec(proptest::option::weighted(0.3, any::<bool>()), 1..20),
    ) {
        let policy = QueuePolicy { max_wait: mins(max_wait), ..QueuePolicy::default() };
        for (issued, ahead, called) in run_floor(&policy, minutes, &priority_per_minute, &ordinary) {
            let called = called.expect("every ordinary ticket is called");
            let bound = issued + max_wait as usize + ahead + 1;
            prop_assert!(called <= bound, "taken {issued}, {ahead} ahead, called {called} > {bound}");
        }
    }
}

/// Without aging the same floor starves ordinary tickets: the rule is what makes the bound hold.
#[test]
fn without_aging_ordinary_tickets_starve() {
    let no_aging = QueuePolicy {
        max_wait: mins(1_000_000),
        ..QueuePolicy::default()
    };
    let rows = run_floor(&no_aging, 120, &[1], &[Some(false), None, None]);
    let called_while_stream_runs = rows.iter().filter(|r| r.2.is_some_and(|c| c < 120)).count();
    assert_eq!(called_while_stream_runs, 0);
    let aging = QueuePolicy {
        max_wait: mins(15),
        ..QueuePolicy::default()
    };
    let rows = run_floor(&aging, 120, &[1], &[Some(false), None, None]);
    assert!(rows.iter().filter(|r| r.2.is_some_and(|c| c < 120)).count() > 20);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Fairness for every policy a region can store: any value the `queue.policy` setting accepts
    /// keeps the aging bound, under an endless stream of priority tickets.
    #[test]
    fn fairness_holds_for_every_allowed_policy_setting(
        max_wait_min in 1u32..=crate::queue::MAX_WAIT_LIMIT_MIN,
        early in 0u32..=120,
        late in 0u32..=120,
        recalls in 0u32..=10,
        priority_per_minute in proptest::collection::vec(1u8..=2, 1..6),
        ordinary in proptest::collection::vec(proptest::option::weighted(0.3, any::<bool>()), 1..12),
    ) {
        use crate::queue::{QueuePolicySetting, QueuePolicyValue};
        use crate::settings::Setting;
        let value = QueuePolicyValue {
            max_wait_min,
            appointment_early_grace_min: early,
            appointment_late_grace_min: late,
            max_recalls: recalls,
        };
        prop_assert!(QueuePolicySetting::validate(&value).is_ok());
        let policy = value.policy();
        // Long enough that a ticket taken in the first minutes must age before the stream stops.
        let minutes = max_wait_min as usize + 40;
        for (issued, ahead, called) in run_floor(&policy, minutes, &priority_per_minute, &ordinary) {
            let called = called.expect("every ordinary ticket is called");
            let bound = issued + max_wait_min as usize + ahead + 1;
            prop_assert!(called <= bound, "taken {issued}, {ahead} ahead, called {called} > {bound}");
        }
    }

    /// Values that would switch aging off (or make it meaningless) are refused, with the field named.
    #[test]
    fn the_policy_setting_refuses_an_unbounded_wait(max_wait_min in prop_oneof![Just(0u32), (crate::queue::MAX_WAIT_LIMIT_MIN + 1)..u32::MAX]) {
        use crate::queue::{QueuePolicySetting, QueuePolicyValue};
        let v = serde_json::to_value(QueuePolicyValue { max_wait_min, ..QueuePolicyValue::default() }).unwrap();
        let err = crate::settings::parse::<QueuePolicySetting>(&v).unwrap_err();
        prop_assert_eq!(err.code(), "queue_policy_out_of_range");
    }

    /// Every estimator value the setting accepts gives a finite, non-negative estimate that grows
    /// with the line.
    #[test]
    fn every_allowed_estimator_setting_gives_a_sane_estimate(
        max_samples in 1u32..=500,
        alpha in 1u32..=100,
        clip in 1u32..=20,
        default_min in 1u32..=240,
        in_progress in 0u32..=100,
        durations in proptest::collection::vec(1i64..3_600, 0..60),
        ahead in 0usize..50,
    ) {
        use crate::queue::{EstimatorSetting, EstimatorValue, ServiceSample, estimate_wait};
        use crate::settings::Setting;
        let v = EstimatorValue { max_samples, ewma_alpha_pct: alpha, clip_medians: clip, default_service_min: default_min, in_progress_pct: in_progress };
        prop_assert!(EstimatorSetting::validate(&v).is_ok());
        let cfg = v.config();
        let samples: Vec<ServiceSample> = durations.iter().enumerate().map(|(i, d)| ServiceSample {
            finished_at: now() + mins(i as i64),
            duration: SignedDuration::from_secs(*d),
        }).collect();
        let w = vec![window(&[("A", 1)])];
        let e1 = estimate_wait(&cat("A"), ahead, &samples, &w, &cfg).unwrap();
        let e2 = estimate_wait(&cat("A"), ahead + 1, &samples, &w, &cfg).unwrap();
        prop_assert!(!e1.wait.is_negative());
        prop_assert!(e2.wait >= e1.wait);
        prop_assert!(e1.wait <= SignedDuration::from_hours(24 * 60));
    }
}

#[test]
fn the_setting_defaults_are_the_built_in_rules() {
    use crate::queue::{EstimatorValue, QueuePolicyValue};
    assert_eq!(QueuePolicyValue::default().policy(), QueuePolicy::default());
    assert_eq!(
        EstimatorValue::default().config(),
        crate::queue::EstimatorConfig::default()
    );
}
