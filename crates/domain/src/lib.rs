//! OneStop's domain: types and rules with no I/O. Time always comes in as a parameter.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod calendar;
pub mod case_clock;
pub mod case_no;
pub mod catalogue;
pub mod clock;
pub mod ecert;
pub mod error;
pub mod form;
pub mod ids;
pub mod intake;
pub mod names;
pub mod queue;
pub mod region;
pub mod role;
pub mod settings;
pub mod workflow;
pub mod workflow_draft;
// rollout
pub mod rollout;
// ratings
pub mod rating;

pub use error::DomainError;
// score
pub mod scorecard;
