//! Ratings (好差评) by the rules of 国办发〔2019〕51号 and GB/T 39046 Table A.8: the five levels,
//! the two series that are never merged, the dimensions, the channels, what a valid rating is,
//! and the small workflow that puts a bad review right (核实 → 整改 → 反馈 → 回访, with 申诉复核).
use crate::DomainError;
use crate::settings::Setting;
use serde::{Deserialize, Serialize};

/// The five levels with their GB/T 39046 codes; 4 and 5 are bad reviews (差评).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    VerySatisfied = 1,
    Satisfied = 2,
    FairlySatisfied = 3,
    Dissatisfied = 4,
    VeryDissatisfied = 5,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::VerySatisfied,
        Level::Satisfied,
        Level::FairlySatisfied,
        Level::Dissatisfied,
        Level::VeryDissatisfied,
    ];
    pub fn from_code(code: i64) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|l| l.code() == code)
            .ok_or_else(|| DomainError::invalid("rating_level_invalid", "level", "评价等级须为 1 至 5"))
    }
    pub fn code(self) -> i64 {
        self as i64
    }
    pub fn label(self) -> &'static str {
        match self {
            Level::VerySatisfied => "非常满意",
            Level::Satisfied => "满意",
            Level::FairlySatisfied => "基本满意",
            Level::Dissatisfied => "不满意",
            Level::VeryDissatisfied => "非常不满意",
        }
    }
    /// Levels 4 and 5: a bad review, which needs a reason and starts a follow-up.
    pub fn is_bad(self) -> bool {
        self >= Level::Dissatisfied
    }
}

/// The two series: a served ticket (一次一评) and a concluded case (一事一评). Never merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    Ticket,
    Case,
}

impl Series {
    pub fn as_str(self) -> &'static str {
        match self {
            Series::Ticket => "ticket",
            Series::Case => "case",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "ticket" => Ok(Series::Ticket),
            "case" => Ok(Series::Case),
            _ => Err(DomainError::invalid(
                "rating_series_invalid",
                "series",
                "评价类别须为 ticket（一次一评）或 case（一事一评）",
            )),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Series::Ticket => "一次一评",
            Series::Case => "一事一评",
        }
    }
    /// The dimensions asked in this series besides the overall level (整体满意度).
    pub fn dimensions(self) -> &'static [Dimension] {
        match self {
            Series::Ticket => &ON_SITE,
            Series::Case => &ONLINE,
        }
    }
}

/// The channel a rating came through (评价渠道).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Pc,
    Mobile,
    QrCode,
    Pad,
    HallTerminal,
    Phone,
    Sms,
    /// 其他: the default rating of an unrated event (no channel was used).
    Other,
}

impl Channel {
    pub const ALL: [Channel; 8] = [
        Channel::Pc,
        Channel::Mobile,
        Channel::QrCode,
        Channel::Pad,
        Channel::HallTerminal,
        Channel::Phone,
        Channel::Sms,
        Channel::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Pc => "pc",
            Channel::Mobile => "mobile",
            Channel::QrCode => "qr_code",
            Channel::Pad => "pad",
            Channel::HallTerminal => "hall_terminal",
            Channel::Phone => "phone",
            Channel::Sms => "sms",
            Channel::Other => "other",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("rating_channel_invalid", "channel", "评价渠道无效"))
    }
    pub fn label(self) -> &'static str {
        match self {
            Channel::Pc => "PC端",
            Channel::Mobile => "移动端",
            Channel::QrCode => "二维码",
            Channel::Pad => "评价器",
            Channel::HallTerminal => "大厅其他终端",
            Channel::Phone => "电话",
            Channel::Sms => "短信",
            Channel::Other => "其他",
        }
    }
}

/// A rated aspect: on-site (服务效率/服务水平/服务态度) or online (办事效率/办事指南精确度/
/// 办事便捷度/平台操作性), from a provincial rollout of the national content standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    ServiceEfficiency,
    ServiceLevel,
    ServiceAttitude,
    HandlingEfficiency,
    GuideAccuracy,
    Convenience,
    Usability,
}

const ON_SITE: [Dimension; 3] = [
    Dimension::ServiceEfficiency,
    Dimension::ServiceLevel,
    Dimension::ServiceAttitude,
];
const ONLINE: [Dimension; 4] = [
    Dimension::HandlingEfficiency,
    Dimension::GuideAccuracy,
    Dimension::Convenience,
    Dimension::Usability,
];

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::ServiceEfficiency => "service_efficiency",
            Dimension::ServiceLevel => "service_level",
            Dimension::ServiceAttitude => "service_attitude",
            Dimension::HandlingEfficiency => "handling_efficiency",
            Dimension::GuideAccuracy => "guide_accuracy",
            Dimension::Convenience => "convenience",
            Dimension::Usability => "usability",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Dimension::ServiceEfficiency => "服务效率",
            Dimension::ServiceLevel => "服务水平",
            Dimension::ServiceAttitude => "服务态度",
            Dimension::HandlingEfficiency => "办事效率",
            Dimension::GuideAccuracy => "办事指南精确度",
            Dimension::Convenience => "办事便捷度",
            Dimension::Usability => "平台操作性",
        }
    }
}

/// The longest reason or comment kept with a rating.
pub const MAX_TEXT_CHARS: usize = 500;

/// What the rater submitted, checked: the overall level, the levels per dimension of the
/// series (each optional), and the text (required for a bad review).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RatingInput {
    pub level: Level,
    pub dimensions: Vec<(Dimension, Level)>,
    pub text: String,
}

impl RatingInput {
    /// Checks a submission for `series`: `dimensions` maps dimension names to level codes.
    pub fn parse(
        series: Series,
        level: i64,
        dimensions: &[(String, i64)],
        text: Option<&str>,
    ) -> Result<Self, DomainError> {
        let level = Level::from_code(level)?;
        let mut dims = Vec::new();
        for (name, code) in dimensions {
            let d = series
                .dimensions()
                .iter()
                .copied()
                .find(|d| d.as_str() == name)
                .ok_or_else(|| {
                    DomainError::invalid(
                        "rating_dimension_invalid",
                        "dimensions",
                        format!("{} 不评价“{name}”", series.label()),
                    )
                })?;
            if dims.iter().any(|(x, _)| *x == d) {
                return Err(DomainError::invalid(
                    "rating_dimension_invalid",
                    "dimensions",
                    format!("“{}”评价了两次", d.label()),
                ));
            }
            dims.push((d, Level::from_code(*code)?));
        }
        let text = text.unwrap_or("").trim().to_owned();
        if text.chars().count() > MAX_TEXT_CHARS || text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(DomainError::invalid(
                "rating_text_invalid",
                "text",
                format!("评价内容不能超过 {MAX_TEXT_CHARS} 个字"),
            ));
        }
        if level.is_bad() && text.is_empty() {
            return Err(DomainError::invalid(
                "rating_reason_required",
                "text",
                "选择“不满意”或“非常不满意”时，请写明原因",
            ));
        }
        Ok(Self {
            level,
            dimensions: dims,
            text,
        })
    }
}

/// Who may rate: the citizen, never staff. The web layer tells which kind of caller it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rater {
    /// A citizen holding the token (anonymous, on a phone or a pad).
    Citizen,
    /// A logged-in member of staff: refused, so nobody rates their own work.
    Staff,
}

pub fn check_rater(rater: Rater) -> Result<(), DomainError> {
    match rater {
        Rater::Citizen => Ok(()),
        Rater::Staff => Err(DomainError::conflict(
            "rating_staff_forbidden",
            "工作人员登录状态下不能提交评价，请由办事群众本人评价",
        )),
    }
}

// ---- bad-review follow-up --------------------------------------------------------------------

/// Where a bad review's follow-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpState {
    /// Opened by the bad review; the hall manager verifies with the rater.
    Open,
    /// 核实 done; now rectify (整改) by the deadline.
    Verified,
    /// 整改 done; feed back to the rater.
    Rectified,
    /// 反馈 done; call back (回访) for the rater's view.
    FedBack,
    /// 回访 recorded: done.
    Closed,
    /// 申诉复核 found the review misjudged or malicious: excluded from the figures.
    Excluded,
}

impl FollowUpState {
    pub const ALL: [FollowUpState; 6] = [
        FollowUpState::Open,
        FollowUpState::Verified,
        FollowUpState::Rectified,
        FollowUpState::FedBack,
        FollowUpState::Closed,
        FollowUpState::Excluded,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpState::Open => "open",
            FollowUpState::Verified => "verified",
            FollowUpState::Rectified => "rectified",
            FollowUpState::FedBack => "fed_back",
            FollowUpState::Closed => "closed",
            FollowUpState::Excluded => "excluded",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
    pub fn label(self) -> &'static str {
        match self {
            FollowUpState::Open => "待核实",
            FollowUpState::Verified => "整改中",
            FollowUpState::Rectified => "待反馈",
            FollowUpState::FedBack => "待回访",
            FollowUpState::Closed => "已办结",
            FollowUpState::Excluded => "申诉剔除",
        }
    }
    /// Whether the rectification deadline still binds (a warning can come).
    pub fn awaits_rectification(self) -> bool {
        matches!(self, FollowUpState::Open | FollowUpState::Verified)
    }
    pub fn is_finished(self) -> bool {
        matches!(self, FollowUpState::Closed | FollowUpState::Excluded)
    }
}

/// The manager's steps in a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStep {
    Verify,
    Rectify,
    Feedback,
    Callback,
}

impl FollowUpStep {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "verify" => Ok(Self::Verify),
            "rectify" => Ok(Self::Rectify),
            "feedback" => Ok(Self::Feedback),
            "callback" => Ok(Self::Callback),
            _ => Err(DomainError::invalid(
                "followup_step_invalid",
                "step",
                "步骤须为 verify（核实）、rectify（整改）、feedback（反馈）或 callback（回访）",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Rectify => "rectify",
            Self::Feedback => "feedback",
            Self::Callback => "callback",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Verify => "核实",
            Self::Rectify => "整改",
            Self::Feedback => "反馈",
            Self::Callback => "回访",
        }
    }
}

/// The state after `step`, or a conflict if `step` is not the next one.
pub fn follow_up_next(state: FollowUpState, step: FollowUpStep) -> Result<FollowUpState, DomainError> {
    let next = match (state, step) {
        (FollowUpState::Open, FollowUpStep::Verify) => FollowUpState::Verified,
        (FollowUpState::Verified, FollowUpStep::Rectify) => FollowUpState::Rectified,
        (FollowUpState::Rectified, FollowUpStep::Feedback) => FollowUpState::FedBack,
        (FollowUpState::FedBack, FollowUpStep::Callback) => FollowUpState::Closed,
        _ => {
            return Err(DomainError::conflict(
                "followup_step_out_of_order",
                format!("当前为“{}”，不能进行“{}”", state.label(), step.label()),
            ));
        }
    };
    Ok(next)
}

/// An appeal (申诉复核) can be decided while a follow-up is not finished; an excluded review
/// leaves the figures, with the reason kept.
pub fn appeal(state: FollowUpState, exclude: bool) -> Result<FollowUpState, DomainError> {
    if state.is_finished() {
        return Err(DomainError::conflict(
            "followup_finished",
            "该差评的整改已办结，不能再申诉",
        ));
    }
    Ok(if exclude { FollowUpState::Excluded } else { state })
}

/// The rater's view of the fix at the call back (回访).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackView {
    Satisfied,
    Unsatisfied,
    Unreachable,
}

impl CallbackView {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "satisfied" => Ok(Self::Satisfied),
            "unsatisfied" => Ok(Self::Unsatisfied),
            "unreachable" => Ok(Self::Unreachable),
            _ => Err(DomainError::invalid(
                "callback_view_invalid",
                "view",
                "回访意见须为 satisfied（满意）、unsatisfied（不满意）或 unreachable（未联系上）",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Satisfied => "satisfied",
            Self::Unsatisfied => "unsatisfied",
            Self::Unreachable => "unreachable",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Satisfied => "满意",
            Self::Unsatisfied => "不满意",
            Self::Unreachable => "未联系上",
        }
    }
}

/// A note at a follow-up step or appeal: required, bounded.
pub fn check_note(note: &str, field: &'static str) -> Result<String, DomainError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > MAX_TEXT_CHARS {
        return Err(DomainError::invalid(
            "followup_note_invalid",
            field,
            format!("请填写说明（1 至 {MAX_TEXT_CHARS} 个字）"),
        ));
    }
    Ok(note.to_owned())
}

// ---- settings --------------------------------------------------------------------------------

/// The rectification deadline of a bad review, in working days (local rules: 5 to 15).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRule {
    pub rectify_working_days: u32,
}

pub struct FollowUpSetting;

impl Setting for FollowUpSetting {
    const KEY: &'static str = "ratings.followup";
    type Value = FollowUpRule;
    fn default_value() -> FollowUpRule {
        FollowUpRule {
            rectify_working_days: 5,
        }
    }
    fn validate(v: &FollowUpRule) -> Result<(), DomainError> {
        if !(1..=30).contains(&v.rectify_working_days) {
            return Err(DomainError::invalid(
                "followup_rule_out_of_range",
                "rectify_working_days",
                "整改时限须为 1 至 30 个工作日",
            ));
        }
        Ok(())
    }
}

/// Unrated events default to 基本满意 after `after_days` days (a local rule; off by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRatingRule {
    pub enabled: bool,
    pub after_days: u32,
}

pub struct DefaultRatingSetting;

impl Setting for DefaultRatingSetting {
    const KEY: &'static str = "ratings.default";
    type Value = DefaultRatingRule;
    fn default_value() -> DefaultRatingRule {
        DefaultRatingRule {
            enabled: false,
            after_days: 7,
        }
    }
    fn validate(v: &DefaultRatingRule) -> Result<(), DomainError> {
        // A token expires after TOKEN_VALID_DAYS; a later default could not use it.
        if !(1..=TOKEN_VALID_DAYS as u32).contains(&v.after_days) {
            return Err(DomainError::invalid(
                "default_rating_rule_out_of_range",
                "after_days",
                format!("默认好评天数须为 1 至 {TOKEN_VALID_DAYS} 天"),
            ));
        }
        Ok(())
    }
}

/// Monthly scorecards: who is ranked and who is in the bottom group. The same for everyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorecardRule {
    /// Fewer real ratings than this in the month: not ranked (the figures are still shown).
    pub min_sample: u32,
    /// `last` (the last place) or `share` (the bottom `bottom_percent` of the ranked).
    pub bottom: String,
    pub bottom_percent: u32,
    /// No bottom group among fewer ranked peers than this.
    pub min_peers: u32,
    /// Months in a row in the bottom group that flag a talk (约谈).
    pub talk_after_months: u32,
}

pub struct ScorecardSetting;

impl Setting for ScorecardSetting {
    const KEY: &'static str = "ratings.scorecard";
    type Value = ScorecardRule;
    fn default_value() -> ScorecardRule {
        ScorecardRule {
            min_sample: 20,
            bottom: "last".into(),
            bottom_percent: 10,
            min_peers: 3,
            talk_after_months: 2,
        }
    }
    fn validate(v: &ScorecardRule) -> Result<(), DomainError> {
        let bad = |field: &'static str, msg: &str| Err(DomainError::invalid("scorecard_rule_invalid", field, msg));
        if !matches!(v.bottom.as_str(), "last" | "share") {
            return bad("bottom", "末位规则须为 last（末位）或 share（末尾比例）");
        }
        if !(1..=50).contains(&v.bottom_percent) {
            return bad("bottom_percent", "末尾比例须为 1% 至 50%");
        }
        if v.min_sample > 10_000 || !(2..=1000).contains(&v.min_peers) {
            return bad("min_peers", "最少样本不超过 10000，最少参评数须为 2 至 1000");
        }
        if !(1..=12).contains(&v.talk_after_months) {
            return bad("talk_after_months", "连续月数须为 1 至 12");
        }
        Ok(())
    }
}

/// One subject's place in a month's ranking: `score` is its satisfaction (higher is better),
/// ties broken by fewer overdue follow-ups, then by the shorter average wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub subject_id: i64,
    pub sample: u32,
    pub score: f64,
    pub overdue: u32,
    pub avg_wait_min: f64,
}

/// Ranks the subjects that reach the minimum sample (1 = best) and marks the bottom group.
/// Returns (subject id, rank or None when below the sample, in bottom group).
pub fn rank(rule: &ScorecardRule, subjects: &[Ranked]) -> Vec<(i64, Option<u32>, bool)> {
    let mut ranked: Vec<&Ranked> = subjects.iter().filter(|s| s.sample >= rule.min_sample).collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.overdue.cmp(&b.overdue))
            .then(a.avg_wait_min.total_cmp(&b.avg_wait_min))
            .then(a.subject_id.cmp(&b.subject_id))
    });
    let n = ranked.len();
    let bottom_size = if n < rule.min_peers as usize {
        0
    } else if rule.bottom == "share" {
        ((n * rule.bottom_percent as usize).div_ceil(100)).max(1)
    } else {
        1
    };
    let mut out: Vec<(i64, Option<u32>, bool)> = ranked
        .iter()
        .enumerate()
        .map(|(i, s)| (s.subject_id, Some(i as u32 + 1), i >= n - bottom_size))
        .collect();
    for s in subjects.iter().filter(|s| s.sample < rule.min_sample) {
        out.push((s.subject_id, None, false));
    }
    out
}

/// How long a rating token stays usable after the service (the pad shows it only briefly).
pub const TOKEN_VALID_DAYS: i64 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_reviews_need_a_reason() {
        for l in Level::ALL {
            let r = RatingInput::parse(Series::Ticket, l.code(), &[], None);
            assert_eq!(r.is_err(), l.is_bad(), "{l:?}");
            assert!(RatingInput::parse(Series::Ticket, l.code(), &[], Some("等了很久")).is_ok());
        }
        assert!(RatingInput::parse(Series::Ticket, 4, &[], Some("   ")).is_err());
        assert!(RatingInput::parse(Series::Ticket, 0, &[], None).is_err());
        assert!(RatingInput::parse(Series::Ticket, 6, &[], None).is_err());
    }

    #[test]
    fn dimensions_follow_the_series() {
        let on_site = vec![("service_attitude".to_owned(), 1)];
        assert!(RatingInput::parse(Series::Ticket, 1, &on_site, None).is_ok());
        assert!(RatingInput::parse(Series::Case, 1, &on_site, None).is_err());
        let twice = vec![("service_attitude".to_owned(), 1), ("service_attitude".to_owned(), 2)];
        assert!(RatingInput::parse(Series::Ticket, 1, &twice, None).is_err());
        let bad_level = vec![("service_level".to_owned(), 9)];
        assert!(RatingInput::parse(Series::Ticket, 1, &bad_level, None).is_err());
    }

    #[test]
    fn follow_up_runs_in_order_and_appeal_excludes() {
        use FollowUpStep::*;
        let mut s = FollowUpState::Open;
        assert!(follow_up_next(s, Rectify).is_err());
        for step in [Verify, Rectify, Feedback, Callback] {
            s = follow_up_next(s, step).unwrap_or(s);
        }
        assert_eq!(s, FollowUpState::Closed);
        assert!(appeal(s, true).is_err());
        assert_eq!(appeal(FollowUpState::Verified, true), Ok(FollowUpState::Excluded));
        assert_eq!(appeal(FollowUpState::Verified, false), Ok(FollowUpState::Verified));
        assert!(check_rater(Rater::Staff).is_err());
    }

    #[test]
    fn ranking_needs_a_sample_and_marks_the_bottom() {
        let rule = ScorecardSetting::default_value();
        let s = |id, sample, score| Ranked {
            subject_id: id,
            sample,
            score,
            overdue: 0,
            avg_wait_min: 5.0,
        };
        let out = rank(&rule, &[s(1, 30, 0.99), s(2, 30, 0.90), s(3, 5, 0.10), s(4, 40, 0.95)]);
        assert_eq!(out[0], (1, Some(1), false));
        assert_eq!(out[1], (4, Some(2), false));
        assert_eq!(out[2], (2, Some(3), true));
        assert_eq!(out[3], (3, None, false));
        // Fewer peers than the minimum: nobody is in the bottom group.
        let out = rank(&rule, &[s(1, 30, 0.99), s(2, 30, 0.90)]);
        assert!(out.iter().all(|(_, _, b)| !b));
    }
}
