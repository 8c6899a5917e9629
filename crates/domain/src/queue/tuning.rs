//! The queue policy and the wait estimator as region settings (`queue.policy`, `queue.estimator`):
//! whole numbers an admin form can edit, validated so that no stored value can switch fairness off
//! (the aging bound `max_wait` is always finite) or make the estimate meaningless.
use super::estimate::EstimatorConfig;
use super::policy::QueuePolicy;
use crate::DomainError;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

/// Longest aging bound a region may set: half a long hall day. Beyond it "no ticket waits
/// forever" would hold only on paper.
pub const MAX_WAIT_LIMIT_MIN: u32 = 240;

/// The numbers of [`QueuePolicy`], in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuePolicyValue {
    /// Aging bound: a ticket waiting this long is called before priority, appointment and rank.
    pub max_wait_min: u32,
    /// An appointment checked in this early before its slot already counts as in its slot.
    pub appointment_early_grace_min: u32,
    /// An appointment keeps its place this long after its slot ends.
    pub appointment_late_grace_min: u32,
    /// Recalls (重呼) allowed before a no-show must be marked.
    pub max_recalls: u32,
}

impl Default for QueuePolicyValue {
    fn default() -> Self {
        let p = QueuePolicy::default();
        let min = |d: SignedDuration| u32::try_from(d.as_mins()).unwrap_or(0);
        Self {
            max_wait_min: min(p.max_wait),
            appointment_early_grace_min: min(p.appointment_early_grace),
            appointment_late_grace_min: min(p.appointment_late_grace),
            max_recalls: p.max_recalls,
        }
    }
}

impl QueuePolicyValue {
    pub fn policy(&self) -> QueuePolicy {
        let m = |n: u32| SignedDuration::from_mins(i64::from(n));
        QueuePolicy {
            max_wait: m(self.max_wait_min),
            appointment_early_grace: m(self.appointment_early_grace_min),
            appointment_late_grace: m(self.appointment_late_grace_min),
            max_recalls: self.max_recalls,
        }
    }
}

/// The queue policy as a region setting (`queue.policy`).
pub struct QueuePolicySetting;

impl crate::settings::Setting for QueuePolicySetting {
    const KEY: &'static str = "queue.policy";
    type Value = QueuePolicyValue;
    fn default_value() -> QueuePolicyValue {
        QueuePolicyValue::default()
    }
    fn validate(v: &QueuePolicyValue) -> Result<(), DomainError> {
        if v.max_wait_min == 0 || v.max_wait_min > MAX_WAIT_LIMIT_MIN {
            return Err(DomainError::invalid(
                "queue_policy_out_of_range",
                "max_wait_min",
                format!("最长等候时间须在 1 到 {MAX_WAIT_LIMIT_MIN} 分钟之间（超过即优先呼叫，保证公平）"),
            ));
        }
        if v.appointment_early_grace_min > 120 || v.appointment_late_grace_min > 120 {
            return Err(DomainError::invalid(
                "queue_policy_out_of_range",
                "appointment_late_grace_min",
                "预约提前或迟到的宽限时间不能超过 120 分钟",
            ));
        }
        if v.max_recalls > 10 {
            return Err(DomainError::invalid(
                "queue_policy_out_of_range",
                "max_recalls",
                "重呼次数不能超过 10 次",
            ));
        }
        Ok(())
    }
}

/// The numbers of [`EstimatorConfig`], as whole numbers (percentages where the estimator takes a
/// fraction), so that the generic settings form edits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimatorValue {
    /// Newest service times used.
    pub max_samples: u32,
    /// Weight of the newest sample in the moving average, in percent (1–100).
    pub ewma_alpha_pct: u32,
    /// A sample longer than this many medians counts as this many medians.
    pub clip_medians: u32,
    /// Service time assumed before a category has samples, in minutes.
    pub default_service_min: u32,
    /// Part of a service time added for services under way, in percent (0–100).
    pub in_progress_pct: u32,
}

impl Default for EstimatorValue {
    fn default() -> Self {
        let c = EstimatorConfig::default();
        Self {
            max_samples: u32::try_from(c.max_samples).unwrap_or(40),
            ewma_alpha_pct: (c.ewma_alpha * 100.0).round() as u32,
            clip_medians: c.clip_medians.round() as u32,
            default_service_min: u32::try_from(c.default_service.as_mins()).unwrap_or(8),
            in_progress_pct: (c.in_progress_fraction * 100.0).round() as u32,
        }
    }
}

impl EstimatorValue {
    pub fn config(&self) -> EstimatorConfig {
        EstimatorConfig {
            max_samples: self.max_samples as usize,
            ewma_alpha: f64::from(self.ewma_alpha_pct) / 100.0,
            clip_medians: f64::from(self.clip_medians),
            default_service: SignedDuration::from_mins(i64::from(self.default_service_min)),
            in_progress_fraction: f64::from(self.in_progress_pct) / 100.0,
        }
    }
}

/// The wait estimator's tuning as a region setting (`queue.estimator`).
pub struct EstimatorSetting;

impl crate::settings::Setting for EstimatorSetting {
    const KEY: &'static str = "queue.estimator";
    type Value = EstimatorValue;
    fn default_value() -> EstimatorValue {
        EstimatorValue::default()
    }
    fn validate(v: &EstimatorValue) -> Result<(), DomainError> {
        let bad = |field: &'static str, msg: &str| Err(DomainError::invalid("estimator_out_of_range", field, msg));
        if v.max_samples == 0 || v.max_samples > 500 {
            return bad("max_samples", "参与估算的样本数须在 1 到 500 之间");
        }
        if v.ewma_alpha_pct == 0 || v.ewma_alpha_pct > 100 {
            return bad("ewma_alpha_pct", "最新样本权重须在 1% 到 100% 之间");
        }
        if v.clip_medians == 0 || v.clip_medians > 20 {
            return bad("clip_medians", "样本截断倍数须在 1 到 20 之间");
        }
        if v.default_service_min == 0 || v.default_service_min > 240 {
            return bad("default_service_min", "默认办理时长须在 1 到 240 分钟之间");
        }
        if v.in_progress_pct > 100 {
            return bad("in_progress_pct", "在办业务计入比例须在 0% 到 100% 之间");
        }
        Ok(())
    }
}
