//! A case's life around acceptance (受理) and its case-level status, as a state machine.
//!
//! Before acceptance no clock runs. The window makes ONE intake decision:
//! - accept (受理通知书);
//! - refuse, with reasons (不予受理决定书);
//! - accept with pending materials (容缺受理) on a signed commitment, with a deadline for the missing
//!   secondary materials no later than the promised deadline;
//! - or issue the notice of missing materials (一次性告知单): ONE notice listing everything missing.
//!   Only one per application; after correction (补正) the complete materials arrive and the case is
//!   accepted.
//!
//! Without a decision or notice within 5 working days of receipt (configurable) the application
//! counts as accepted on the day of receipt (deemed acceptance, 《行政许可法》§32).
//!
//! After acceptance the case is in progress (its workflow runs), may be suspended for a special
//! procedure (特别程序, the clock stops), and ends concluded (approved / refused), terminated (pending
//! materials not delivered by their deadline) or withdrawn (撤回). A case in a final status never
//! changes again.
//!
//! This module knows no calendar: dates come in as parameters, and where working days matter the
//! caller passes the number of working days already counted by the calendar.
use crate::DomainError;
use crate::workflow::Conclusion;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Status of a case, stored as [`CaseStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum CaseStatus {
    /// 已收件: received, waiting for the intake decision.
    Submitted,
    /// 待补正: the notice of missing materials was issued; waiting for the complete materials.
    AwaitingCorrection,
    /// 不予受理: refused at intake (final).
    NotAccepted,
    /// 办理中: accepted, the workflow runs.
    InProgress,
    /// 特别程序中: suspended for a special procedure; the clock stops.
    Suspended,
    /// 已办结 (final).
    Concluded(Conclusion),
    /// 已终止: pending materials not delivered by their deadline (final).
    Terminated,
    /// 已撤回 (final).
    Withdrawn,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 9] = [
        CaseStatus::Submitted,
        CaseStatus::AwaitingCorrection,
        CaseStatus::NotAccepted,
        CaseStatus::InProgress,
        CaseStatus::Suspended,
        CaseStatus::Concluded(Conclusion::Approved),
        CaseStatus::Concluded(Conclusion::Refused),
        CaseStatus::Terminated,
        CaseStatus::Withdrawn,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::AwaitingCorrection => "awaiting_correction",
            Self::NotAccepted => "not_accepted",
            Self::InProgress => "in_progress",
            Self::Suspended => "suspended",
            Self::Concluded(Conclusion::Approved) => "concluded_approved",
            Self::Concluded(Conclusion::Refused) => "concluded_refused",
            Self::Terminated => "terminated",
            Self::Withdrawn => "withdrawn",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("case_status_invalid", "status", format!("未知的办件状态：{raw}")))
    }
    /// 简体 label shown in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Self::Submitted => "已收件",
            Self::AwaitingCorrection => "待补正",
            Self::NotAccepted => "不予受理",
            Self::InProgress => "办理中",
            Self::Suspended => "特别程序中",
            Self::Concluded(Conclusion::Approved) => "已办结（准予许可）",
            Self::Concluded(Conclusion::Refused) => "已办结（不予许可）",
            Self::Terminated => "已终止",
            Self::Withdrawn => "已撤回",
        }
    }
    /// A final status never changes again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::NotAccepted | Self::Concluded(_) | Self::Terminated | Self::Withdrawn
        )
    }
    /// Whether the intake decision is still to be made.
    pub fn awaiting_intake(self) -> bool {
        matches!(self, Self::Submitted | Self::AwaitingCorrection)
    }
    /// Whether workflow actions may be taken (not during a special procedure).
    pub fn accepts_workflow_actions(self) -> bool {
        self == Self::InProgress
    }
}

impl From<CaseStatus> for String {
    fn from(value: CaseStatus) -> Self {
        value.as_str().to_owned()
    }
}
impl TryFrom<String> for CaseStatus {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// Printable notices and decisions the hall issues around a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// 收件凭证: given on receipt.
    Receipt,
    /// 受理通知书.
    Acceptance,
    /// 不予受理决定书.
    Refusal,
    /// 容缺受理通知书.
    PendingAcceptance,
    /// 一次性告知单 (补正材料通知).
    MissingMaterials,
    /// 补正材料接收凭证.
    CorrectionReceipt,
    /// 准予许可决定书.
    ApprovalDecision,
    /// 不予许可决定书.
    RefusalDecision,
    /// 终止办理告知书.
    Termination,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 9] = [
        NoticeKind::Receipt,
        NoticeKind::Acceptance,
        NoticeKind::Refusal,
        NoticeKind::PendingAcceptance,
        NoticeKind::MissingMaterials,
        NoticeKind::CorrectionReceipt,
        NoticeKind::ApprovalDecision,
        NoticeKind::RefusalDecision,
        NoticeKind::Termination,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Acceptance => "acceptance",
            Self::Refusal => "refusal",
            Self::PendingAcceptance => "pending_acceptance",
            Self::MissingMaterials => "missing_materials",
            Self::CorrectionReceipt => "correction_receipt",
            Self::ApprovalDecision => "approval_decision",
            Self::RefusalDecision => "refusal_decision",
            Self::Termination => "termination",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("notice_kind_invalid", "kind", format!("未知的文书类型：{raw}")))
    }
    /// 简体 title printed on the document.
    pub fn title(self) -> &'static str {
        match self {
            Self::Receipt => "收件凭证",
            Self::Acceptance => "受理通知书",
            Self::Refusal => "不予受理决定书",
            Self::PendingAcceptance => "容缺受理通知书",
            Self::MissingMaterials => "一次性告知单",
            Self::CorrectionReceipt => "补正材料接收凭证",
            Self::ApprovalDecision => "准予许可决定书",
            Self::RefusalDecision => "不予许可决定书",
            Self::Termination => "终止办理告知书",
        }
    }
}

/// Local rules for intake (configurable per region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeRules {
    /// Working days after receipt within which a decision or notice must come (《行政许可法》: 5).
    pub notice_window_working_days: u32,
}

impl Default for IntakeRules {
    fn default() -> Self {
        Self {
            notice_window_working_days: 5,
        }
    }
}

/// The one notice of missing materials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingNotice {
    pub materials: Vec<String>,
    pub issued_on: Date,
    /// When the complete materials arrived (补正).
    pub corrected_on: Option<Date>,
}

/// Secondary materials promised under 容缺受理.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMaterials {
    pub materials: Vec<String>,
    pub deadline: Date,
    pub delivered_on: Option<Date>,
    /// The day the warnings sweeper found the deadline passed without them (flagged once).
    #[serde(default)]
    pub overdue_on: Option<Date>,
}

impl PendingMaterials {
    /// Promised materials not yet delivered: the case may not be approved (see docs/CASES.md).
    pub fn outstanding(&self) -> bool {
        self.delivered_on.is_none()
    }
}

/// Something that happens to a case; see [`IntakeState::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CaseEvent {
    /// 受理: materials complete (first time, or after 补正).
    Accept { on: Date },
    /// 不予受理, with the reasons told to the applicant.
    Refuse { on: Date, reasons: String },
    /// 容缺受理 on a signed commitment. `promised_deadline` is the case's promised deadline date
    /// (from the case clock); the materials' deadline may not be later.
    AcceptWithPending {
        on: Date,
        materials: Vec<String>,
        deadline: Date,
        promised_deadline: Date,
    },
    /// 一次性告知: everything missing, in one notice. `working_days_since_receipt` comes from the
    /// calendar; a notice after the window is too late (the case already counts as accepted).
    NoticeOfMissing {
        on: Date,
        materials: Vec<String>,
        working_days_since_receipt: u32,
    },
    /// The intake window passed without a decision or notice: deemed accepted on the day of receipt.
    DeemedAcceptance { working_days_since_receipt: u32 },
    /// The pending 容缺 materials arrived.
    PendingDelivered { on: Date },
    /// The pending materials' deadline passed without them: the case ends.
    PendingOverdue { today: Date },
    /// 特别程序 starts: the clock stops.
    StartSpecialProcedure { on: Date },
    /// 特别程序 ends: the clock resumes with the days that were left.
    EndSpecialProcedure { on: Date },
    /// 办结: the workflow reached its end.
    Conclude { on: Date, outcome: Conclusion },
    /// 撤回 by the applicant.
    Withdraw { on: Date },
}

/// Intake and case-level state of one case. Stored as JSON with the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeState {
    pub status: CaseStatus,
    pub received_on: Date,
    /// Acceptance date; the case clock starts the working day after.
    pub accepted_on: Option<Date>,
    /// Whether acceptance was deemed (no decision within the window).
    #[serde(default)]
    pub deemed: bool,
    pub refusal_reasons: Option<String>,
    pub missing: Option<MissingNotice>,
    pub pending: Option<PendingMaterials>,
    pub concluded_on: Option<Date>,
    /// Every notice issued, in order.
    pub notices: Vec<NoticeKind>,
    /// The required materials of the catalogue version(s) applied under, checked at intake.
    #[serde(default)]
    pub required_materials: Vec<String>,
}

const MATERIAL_NAME_MAX: usize = 100;
const REASONS_MAX: usize = 2000;

fn check_materials(raw: &[String]) -> Result<Vec<String>, DomainError> {
    let list: Vec<String> = raw.iter().map(|m| m.trim().to_owned()).collect();
    if list.is_empty() {
        return Err(DomainError::invalid("materials_empty", "materials", "须列明所缺的材料"));
    }
    if list
        .iter()
        .any(|m| m.is_empty() || m.chars().count() > MATERIAL_NAME_MAX || m.chars().any(char::is_control))
    {
        return Err(DomainError::invalid(
            "material_name_invalid",
            "materials",
            format!("材料名称须为 1 至 {MATERIAL_NAME_MAX} 个字符"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    if !list.iter().all(|m| seen.insert(m.as_str())) {
        return Err(DomainError::invalid(
            "material_duplicate",
            "materials",
            "材料清单中有重复的材料",
        ));
    }
    Ok(list)
}

fn not_before(on: Date, earliest: Date, field: &'static str) -> Result<(), DomainError> {
    if on < earliest {
        return Err(DomainError::invalid(
            "date_before_receipt",
            field,
            "日期不能早于收件日期",
        ));
    }
    Ok(())
}

impl IntakeState {
    /// A case just received (收件). A receipt is issued.
    pub fn received(on: Date) -> Self {
        Self {
            status: CaseStatus::Submitted,
            received_on: on,
            accepted_on: None,
            deemed: false,
            refusal_reasons: None,
            missing: None,
            pending: None,
            concluded_on: None,
            notices: vec![NoticeKind::Receipt],
            required_materials: Vec::new(),
        }
    }

    /// Whether the application now counts as accepted because the window passed with no decision
    /// or notice. (A notice of missing materials stops deemed acceptance.)
    pub fn deemed_acceptance_due(&self, rules: &IntakeRules, working_days_since_receipt: u32) -> bool {
        self.status == CaseStatus::Submitted && working_days_since_receipt > rules.notice_window_working_days
    }

    /// Applies one event. Returns the notice to issue, if any. On error nothing changes.
    pub fn apply(&mut self, rules: &IntakeRules, event: &CaseEvent) -> Result<Option<NoticeKind>, DomainError> {
        if self.status.is_final() {
            return Err(DomainError::conflict(
                "case_concluded",
                format!("办件已{}，不能再变更", self.status.label()),
            ));
        }
        let mut next = self.clone();
        let notice = next.transition(rules, event)?;
        if let Some(n) = notice {
            next.notices.push(n);
        }
        *self = next;
        Ok(notice)
    }

    fn require_intake(&self) -> Result<(), DomainError> {
        if self.status.awaiting_intake() {
            Ok(())
        } else {
            Err(DomainError::conflict("intake_already_decided", "该办件已作出受理决定"))
        }
    }

    fn require_accepted(&self) -> Result<(), DomainError> {
        if self.status.awaiting_intake() {
            Err(DomainError::conflict("case_not_accepted", "该办件尚未受理"))
        } else {
            Ok(())
        }
    }

    fn transition(&mut self, rules: &IntakeRules, event: &CaseEvent) -> Result<Option<NoticeKind>, DomainError> {
        match event {
            CaseEvent::Accept { on } => {
                self.require_intake()?;
                not_before(*on, self.received_on, "on")?;
                let after_correction = self.status == CaseStatus::AwaitingCorrection;
                if let Some(m) = self.missing.as_mut().filter(|_| after_correction) {
                    m.corrected_on = Some(*on);
                }
                self.status = CaseStatus::InProgress;
                self.accepted_on = Some(*on);
                Ok(Some(NoticeKind::Acceptance))
            }
            CaseEvent::Refuse { on, reasons } => {
                self.require_intake()?;
                not_before(*on, self.received_on, "on")?;
                let reasons = reasons.trim();
                if reasons.is_empty() {
                    return Err(DomainError::invalid(
                        "refusal_reason_required",
                        "reasons",
                        "不予受理须说明理由",
                    ));
                }
                if reasons.chars().count() > REASONS_MAX {
                    return Err(DomainError::invalid(
                        "refusal_reason_too_long",
                        "reasons",
                        format!("不予受理理由不能超过 {REASONS_MAX} 个字符"),
                    ));
                }
                self.status = CaseStatus::NotAccepted;
                self.refusal_reasons = Some(reasons.to_owned());
                self.concluded_on = Some(*on);
                Ok(Some(NoticeKind::Refusal))
            }
            CaseEvent::AcceptWithPending {
                on,
                materials,
                deadline,
                promised_deadline,
            } => {
                self.require_intake()?;
                not_before(*on, self.received_on, "on")?;
                let materials = check_materials(materials)?;
                if deadline < on {
                    return Err(DomainError::invalid(
                        "pending_deadline_past",
                        "deadline",
                        "容缺材料的补交期限不能早于受理日期",
                    ));
                }
                if deadline > promised_deadline {
                    return Err(DomainError::invalid(
                        "pending_deadline_after_promised",
                        "deadline",
                        format!("容缺材料的补交期限不能晚于承诺办结期限（{promised_deadline}）"),
                    ));
                }
                self.status = CaseStatus::InProgress;
                self.accepted_on = Some(*on);
                self.pending = Some(PendingMaterials {
                    materials,
                    deadline: *deadline,
                    delivered_on: None,
                    overdue_on: None,
                });
                Ok(Some(NoticeKind::PendingAcceptance))
            }
            CaseEvent::NoticeOfMissing {
                on,
                materials,
                working_days_since_receipt,
            } => {
                // Checked before the status: a second notice is its own, clearer, error.
                if self.missing.is_some() {
                    return Err(DomainError::conflict(
                        "notice_already_issued",
                        "一次性告知单已出具，所缺材料须在一份告知单中一次列明",
                    ));
                }
                self.require_intake()?;
                not_before(*on, self.received_on, "on")?;
                if *working_days_since_receipt > rules.notice_window_working_days {
                    return Err(DomainError::conflict(
                        "notice_too_late",
                        format!(
                            "收件已超过 {} 个工作日未告知，申请自收件之日起视为受理",
                            rules.notice_window_working_days
                        ),
                    ));
                }
                let materials = check_materials(materials)?;
                self.status = CaseStatus::AwaitingCorrection;
                self.missing = Some(MissingNotice {
                    materials,
                    issued_on: *on,
                    corrected_on: None,
                });
                Ok(Some(NoticeKind::MissingMaterials))
            }
            CaseEvent::DeemedAcceptance {
                working_days_since_receipt,
            } => {
                self.require_intake()?;
                if !self.deemed_acceptance_due(rules, *working_days_since_receipt) {
                    return Err(DomainError::conflict(
                        "deemed_acceptance_not_due",
                        "尚未满足视为受理的条件",
                    ));
                }
                self.status = CaseStatus::InProgress;
                self.accepted_on = Some(self.received_on);
                self.deemed = true;
                Ok(Some(NoticeKind::Acceptance))
            }
            CaseEvent::PendingDelivered { on } => {
                self.require_accepted()?;
                let Some(p) = self.pending.as_mut().filter(|p| p.delivered_on.is_none()) else {
                    return Err(DomainError::conflict(
                        "no_pending_materials",
                        "该办件没有待补交的容缺材料",
                    ));
                };
                // Late materials are still taken: the case could not be approved without them,
                // and ending it is a reviewer's decision, not the calendar's (docs/CASES.md).
                p.delivered_on = Some(*on);
                Ok(Some(NoticeKind::CorrectionReceipt))
            }
            CaseEvent::PendingOverdue { today } => {
                self.require_accepted()?;
                let overdue = self
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.delivered_on.is_none() && *today > p.deadline);
                if !overdue {
                    return Err(DomainError::conflict("pending_not_overdue", "容缺材料未逾期"));
                }
                self.status = CaseStatus::Terminated;
                self.concluded_on = Some(*today);
                Ok(Some(NoticeKind::Termination))
            }
            CaseEvent::StartSpecialProcedure { .. } => {
                self.require_accepted()?;
                if self.status == CaseStatus::Suspended {
                    return Err(DomainError::conflict("special_procedure_running", "特别程序正在进行中"));
                }
                self.status = CaseStatus::Suspended;
                Ok(None)
            }
            CaseEvent::EndSpecialProcedure { .. } => {
                if self.status != CaseStatus::Suspended {
                    return Err(DomainError::conflict(
                        "special_procedure_not_running",
                        "没有正在进行的特别程序",
                    ));
                }
                self.status = CaseStatus::InProgress;
                Ok(None)
            }
            CaseEvent::Conclude { on, outcome } => {
                self.require_accepted()?;
                if self.status == CaseStatus::Suspended {
                    return Err(DomainError::conflict(
                        "special_procedure_running",
                        "特别程序进行中，不能办结",
                    ));
                }
                let outstanding = self.pending.as_ref().is_some_and(|p| p.delivered_on.is_none());
                if *outcome == Conclusion::Approved && outstanding {
                    return Err(DomainError::conflict(
                        "pending_materials_outstanding",
                        "容缺材料尚未补齐，不能准予许可",
                    ));
                }
                self.status = CaseStatus::Concluded(*outcome);
                self.concluded_on = Some(*on);
                Ok(Some(match outcome {
                    Conclusion::Approved => NoticeKind::ApprovalDecision,
                    Conclusion::Refused => NoticeKind::RefusalDecision,
                }))
            }
            CaseEvent::Withdraw { on } => {
                not_before(*on, self.received_on, "on")?;
                self.status = CaseStatus::Withdrawn;
                self.concluded_on = Some(*on);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn rules() -> IntakeRules {
        IntakeRules::default()
    }
    fn mats(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn status_round_trips_and_labels() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()).unwrap(), s);
            assert!(!s.label().is_empty());
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<CaseStatus>(&json).unwrap(), s);
        }
        assert_eq!(CaseStatus::parse("nope").unwrap_err().code(), "case_status_invalid");
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()).unwrap(), k);
        }
        assert_eq!(NoticeKind::MissingMaterials.title(), "一次性告知单");
    }

    #[test]
    fn one_notice_then_correction_then_accept() {
        let d0 = date(2026, 3, 16);
        let mut st = IntakeState::received(d0);
        let ev = CaseEvent::NoticeOfMissing {
            on: d0,
            materials: mats(&["身份证复印件", "营业执照"]),
            working_days_since_receipt: 0,
        };
        assert_eq!(st.apply(&rules(), &ev).unwrap(), Some(NoticeKind::MissingMaterials));
        assert_eq!(st.status, CaseStatus::AwaitingCorrection);
        assert_eq!(st.apply(&rules(), &ev).unwrap_err().code(), "notice_already_issued");
        // No deemed acceptance once a notice was given.
        assert!(!st.deemed_acceptance_due(&rules(), 30));
        let d1 = date(2026, 3, 20);
        assert_eq!(
            st.apply(&rules(), &CaseEvent::Accept { on: d1 }).unwrap(),
            Some(NoticeKind::Acceptance)
        );
        assert_eq!(st.accepted_on, Some(d1));
        assert_eq!(st.missing.as_ref().unwrap().corrected_on, Some(d1));
        assert_eq!(
            st.apply(&rules(), &CaseEvent::Accept { on: d1 }).unwrap_err().code(),
            "intake_already_decided"
        );
        assert_eq!(st.apply(&rules(), &ev).unwrap_err().code(), "notice_already_issued");
    }

    #[test]
    fn late_notice_and_deemed_acceptance() {
        let d0 = date(2026, 3, 16);
        let mut st = IntakeState::received(d0);
        let late = CaseEvent::NoticeOfMissing {
            on: date(2026, 3, 24),
            materials: mats(&["申请表"]),
            working_days_since_receipt: 6,
        };
        assert_eq!(st.apply(&rules(), &late).unwrap_err().code(), "notice_too_late");
        let early = CaseEvent::DeemedAcceptance {
            working_days_since_receipt: 5,
        };
        assert_eq!(
            st.apply(&rules(), &early).unwrap_err().code(),
            "deemed_acceptance_not_due"
        );
        st.apply(
            &rules(),
            &CaseEvent::DeemedAcceptance {
                working_days_since_receipt: 6,
            },
        )
        .unwrap();
        assert_eq!(st.status, CaseStatus::InProgress);
        assert_eq!(st.accepted_on, Some(d0));
        assert!(st.deemed);
    }

    #[test]
    fn accept_with_pending_deadline_rules() {
        let d0 = date(2026, 3, 16);
        let promised = date(2026, 4, 13);
        let mut st = IntakeState::received(d0);
        let too_late = CaseEvent::AcceptWithPending {
            on: d0,
            materials: mats(&["消防验收意见书"]),
            deadline: date(2026, 4, 14),
            promised_deadline: promised,
        };
        assert_eq!(
            st.apply(&rules(), &too_late).unwrap_err().code(),
            "pending_deadline_after_promised"
        );
        let empty = CaseEvent::AcceptWithPending {
            on: d0,
            materials: vec![],
            deadline: promised,
            promised_deadline: promised,
        };
        assert_eq!(st.apply(&rules(), &empty).unwrap_err().code(), "materials_empty");
        let ok = CaseEvent::AcceptWithPending {
            on: d0,
            materials: mats(&["消防验收意见书"]),
            deadline: date(2026, 4, 1),
            promised_deadline: promised,
        };
        assert_eq!(st.apply(&rules(), &ok).unwrap(), Some(NoticeKind::PendingAcceptance));
        let approve = CaseEvent::Conclude {
            on: date(2026, 3, 20),
            outcome: Conclusion::Approved,
        };
        assert_eq!(
            st.apply(&rules(), &approve).unwrap_err().code(),
            "pending_materials_outstanding"
        );
        assert_eq!(
            st.apply(
                &rules(),
                &CaseEvent::PendingOverdue {
                    today: date(2026, 4, 1)
                }
            )
            .unwrap_err()
            .code(),
            "pending_not_overdue"
        );
        assert_eq!(
            st.apply(
                &rules(),
                &CaseEvent::PendingOverdue {
                    today: date(2026, 4, 2)
                }
            )
            .unwrap(),
            Some(NoticeKind::Termination)
        );
        assert_eq!(st.status, CaseStatus::Terminated);
        assert_eq!(st.apply(&rules(), &approve).unwrap_err().code(), "case_concluded");
    }

    #[test]
    fn special_procedure_and_conclusion() {
        let d0 = date(2026, 3, 16);
        let mut st = IntakeState::received(d0);
        st.apply(&rules(), &CaseEvent::Accept { on: d0 }).unwrap();
        st.apply(&rules(), &CaseEvent::StartSpecialProcedure { on: d0 })
            .unwrap();
        assert!(!st.status.accepts_workflow_actions());
        let decide = CaseEvent::Conclude {
            on: d0,
            outcome: Conclusion::Refused,
        };
        assert_eq!(
            st.apply(&rules(), &decide).unwrap_err().code(),
            "special_procedure_running"
        );
        st.apply(&rules(), &CaseEvent::EndSpecialProcedure { on: d0 }).unwrap();
        assert_eq!(st.apply(&rules(), &decide).unwrap(), Some(NoticeKind::RefusalDecision));
        assert_eq!(st.status, CaseStatus::Concluded(Conclusion::Refused));
        assert_eq!(st.apply(&rules(), &decide).unwrap_err().code(), "case_concluded");
    }

    #[test]
    fn refusal_needs_reasons() {
        let d0 = date(2026, 3, 16);
        let mut st = IntakeState::received(d0);
        let bad = CaseEvent::Refuse {
            on: d0,
            reasons: " ".to_owned(),
        };
        assert_eq!(st.apply(&rules(), &bad).unwrap_err().code(), "refusal_reason_required");
        st.apply(
            &rules(),
            &CaseEvent::Refuse {
                on: d0,
                reasons: "不属于本机关职权范围".to_owned(),
            },
        )
        .unwrap();
        assert_eq!(st.status, CaseStatus::NotAccepted);
        assert!(st.status.is_final());
    }

    fn arb_event() -> impl Strategy<Value = CaseEvent> {
        let day = (0i8..40).prop_map(|n| {
            date(2026, 3, 1)
                .checked_add(jiff::Span::new().days(i64::from(n)))
                .unwrap()
        });
        let list = prop::collection::vec(prop::sample::select(vec!["申请表", "身份证", "", "营业执照"]), 0..3)
            .prop_map(|v| v.into_iter().map(str::to_owned).collect::<Vec<_>>());
        let outcome = any::<bool>().prop_map(|b| if b { Conclusion::Approved } else { Conclusion::Refused });
        prop_oneof![
            day.clone().prop_map(|on| CaseEvent::Accept { on }),
            (day.clone(), prop::sample::select(vec!["", "不符合条件"])).prop_map(|(on, r)| {
                CaseEvent::Refuse {
                    on,
                    reasons: r.to_owned(),
                }
            }),
            (day.clone(), list.clone(), day.clone(), day.clone()).prop_map(
                |(on, materials, deadline, promised_deadline)| {
                    CaseEvent::AcceptWithPending {
                        on,
                        materials,
                        deadline,
                        promised_deadline,
                    }
                }
            ),
            (day.clone(), list, 0u32..10).prop_map(|(on, materials, w)| {
                CaseEvent::NoticeOfMissing {
                    on,
                    materials,
                    working_days_since_receipt: w,
                }
            }),
            (0u32..10).prop_map(|w| CaseEvent::DeemedAcceptance {
                working_days_since_receipt: w
            }),
            day.clone().prop_map(|on| CaseEvent::PendingDelivered { on }),
            day.clone().prop_map(|today| CaseEvent::PendingOverdue { today }),
            day.clone().prop_map(|on| CaseEvent::StartSpecialProcedure { on }),
            day.clone().prop_map(|on| CaseEvent::EndSpecialProcedure { on }),
            (day.clone(), outcome).prop_map(|(on, outcome)| CaseEvent::Conclude { on, outcome }),
            day.prop_map(|on| CaseEvent::Withdraw { on }),
        ]
    }

    proptest! {
        #[test]
        fn random_events_keep_invariants(events in prop::collection::vec(arb_event(), 0..30)) {
            let mut st = IntakeState::received(date(2026, 3, 10));
            for ev in &events {
                let before = st.clone();
                let res = st.apply(&rules(), ev);
                if before.status.is_final() {
                    prop_assert_eq!(res.map_err(|e| e.code()), Err("case_concluded"));
                    prop_assert_eq!(&st, &before);
                } else if res.is_err() {
                    prop_assert_eq!(&st, &before);
                }
                let notices = st.notices.iter().filter(|n| **n == NoticeKind::MissingMaterials).count();
                prop_assert!(notices <= 1);
                prop_assert!(st.accepted_on.is_none() || !st.status.awaiting_intake());
                if let Some(p) = &st.pending {
                    prop_assert!(st.accepted_on.is_some_and(|a| a <= p.deadline));
                }
            }
            let json = serde_json::to_string(&st).unwrap();
            prop_assert_eq!(serde_json::from_str::<IntakeState>(&json).unwrap(), st);
        }
    }
}
