//! The integration suite: one test binary. Every test runs against SQLite, and against
//! PostgreSQL when ONESTOP_TEST_PG holds a server URL; each on a database of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backup;
mod catalogue;
mod catalogue_pages;
mod certs;
mod cli;
mod common;
mod devices;
mod foundation;
mod matrix;
mod multiprocess;
mod outbox;
mod process;
mod queue;
mod queue_bench;
mod security;
mod settings;
mod uploads;
mod workflows;
// rollout
mod rollout;
// ratings
mod ratings;
// cases
mod cases;
// bench (issue 8)
mod durability;
// queue
mod queue_estimate;
// caseui
mod case_pages;
// casecore
mod case_bench;
// ratecase
mod ratecase;
// score
mod scorecards;
// report
mod model_report;
