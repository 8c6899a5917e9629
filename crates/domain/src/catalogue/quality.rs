//! Data-quality rules for catalogue records. They report every problem at once (an importer shows the
//! whole list), each with the field, a stable snake_case code and a 简体 message.
//!
//! Code formats (our convention, modelled on the national coding rule for the catalogue):
//! - 基本编码 (base code): exactly 12 ASCII digits, e.g. `000172007000`.
//! - 实施编码 (implementation code): the implementing body's 18-character unified social credit code,
//!   then the 1-digit 行使层级 code, then the 12-digit base code (31 characters), optionally followed
//!   by a 2-digit 业务办理项 number (33 characters). The embedded parts must agree with the record.
//! - Phones in a guide: 5 to 20 characters of digits, `-`, `+`, `(`, `)`, `（`, `）`, `、`, blanks, with
//!   at least 5 digits, so that both `12345` hotlines and `0999-12345678` pass.
use super::codes::{CaseType, Channel, MaterialSource, OnlineDepth, ServiceType, TimeUnit};
use super::record::{MaterialRecord, ServiceRecord, TimeLimit};
use serde::Serialize;

/// How bad a quality issue is. Errors block publishing; warnings are shown for a person to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One data-quality problem of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QualityIssue {
    /// Field name as in the record's JSON (e.g. `promised_limit`, `faqs[2].answer`).
    pub field: String,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// 简体 message.
    pub message: String,
    pub severity: Severity,
}

impl QualityIssue {
    fn error(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
            severity: Severity::Error,
        }
    }
    fn warning(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
            severity: Severity::Warning,
        }
    }
}

const CREDIT_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Whether `code` is a well-formed unified social credit code (GB 32100): 18 characters from the
/// code's alphabet (no I, O, S, V, Z) whose last one is the check character.
///
/// A private copy of the check: `ids::CreditCode` is written in parallel and the two are to be
/// unified later.
pub fn credit_code_is_valid(code: &str) -> bool {
    let values: Option<Vec<u32>> = code
        .chars()
        .map(|c| CREDIT_ALPHABET.find(c).and_then(|i| u32::try_from(i).ok()))
        .collect();
    let Some(values) = values else { return false };
    if values.len() != 18 {
        return false;
    }
    let sum: u32 = values.iter().zip(CREDIT_WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    values.get(17) == Some(&check)
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn phone_ok(s: &str) -> bool {
    let s = s.trim();
    let n = s.chars().count();
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&n)
        && digits >= 5
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '(' | ')' | '（' | '）' | '、' | ' '))
}

/// A blank form or sample names a stored upload by its SHA-256 digest (64 lowercase hex digits),
/// the name under which every app server finds it in the shared blob store.
pub fn file_ref_ok(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a promised limit can be shown to be within a legal limit, whatever the units.
enum LimitCheck {
    Within,
    Exceeds,
    /// Units differ and the days cannot be compared without a calendar.
    Undecidable,
}

/// Compares limits conservatively: N calendar days contain at most N working days, and N working days
/// span at least N calendar days; anything in between depends on weekends and holidays.
fn compare_limits(promised: TimeLimit, legal: TimeLimit) -> LimitCheck {
    use TimeUnit::{CalendarDays, WorkingDays};
    let (p, l) = (promised.value, legal.value);
    match (promised.unit, legal.unit) {
        (a, b) if a == b => {
            if p <= l {
                LimitCheck::Within
            } else {
                LimitCheck::Exceeds
            }
        }
        // Promised N calendar days end no later than N working days would.
        (CalendarDays, WorkingDays) if p <= l => LimitCheck::Within,
        // N working days take at least N calendar days.
        (WorkingDays, CalendarDays) if p > l => LimitCheck::Exceeds,
        _ if p == 0 => LimitCheck::Within,
        _ => LimitCheck::Undecidable,
    }
}

/// Checks a service record against the catalogue's data-quality rules and returns every issue.
/// An empty list means the record may be published.
pub fn validate_service(s: &ServiceRecord) -> Vec<QualityIssue> {
    let mut out = Vec::new();
    let required: [(&str, &str, &str); 12] = [
        ("name", &s.name, "事项名称"),
        ("base_code", &s.base_code, "基本编码"),
        ("legal_basis", &s.legal_basis, "设定依据"),
        ("implementing_body", &s.implementing_body, "实施主体"),
        (
            "implementing_body_credit_code",
            &s.implementing_body_credit_code,
            "实施主体编码",
        ),
        ("department_name", &s.department_name, "办理部门"),
        ("conditions", &s.conditions, "受理条件"),
        ("process", &s.process, "办理流程"),
        ("consult_phone", &s.consult_phone, "咨询电话"),
        ("supervise_phone", &s.supervise_phone, "监督投诉电话"),
        ("address", &s.address, "办理地点"),
        ("hours", &s.hours, "办理时间"),
    ];
    for (field, value, label) in required {
        if blank(value) {
            out.push(QualityIssue::error(field, "required", format!("{label}不能为空")));
        }
    }
    if s.objects.is_empty() {
        out.push(QualityIssue::error("objects", "required", "请至少选择一类服务对象"));
    }
    if s.channels.is_empty() {
        out.push(QualityIssue::error("channels", "required", "请至少选择一种办理形式"));
    }
    if s.name.chars().count() > 128 {
        out.push(QualityIssue::error("name", "too_long", "事项名称不能超过 128 个字符"));
    }

    // Codes.
    let base_ok = all_digits(&s.base_code, 12);
    if !blank(&s.base_code) && !base_ok {
        out.push(QualityIssue::error(
            "base_code",
            "base_code_invalid",
            "基本编码应为 12 位数字",
        ));
    }
    let credit_ok = credit_code_is_valid(&s.implementing_body_credit_code);
    if !blank(&s.implementing_body_credit_code) && !credit_ok {
        out.push(QualityIssue::error(
            "implementing_body_credit_code",
            "credit_code_invalid",
            "实施主体编码不是有效的统一社会信用代码（应为 18 位，且校验位正确）",
        ));
    }
    if !blank(&s.implementation_code) {
        check_implementation_code(s, base_ok, credit_ok, &mut out);
    }

    // Time limits.
    match (s.promised_limit, s.legal_limit) {
        (None, _) => out.push(QualityIssue::error(
            "promised_limit",
            "required",
            "承诺办结时限不能为空",
        )),
        (Some(p), Some(l)) => match compare_limits(p, l) {
            LimitCheck::Within => {}
            LimitCheck::Exceeds => out.push(QualityIssue::error(
                "promised_limit",
                "promised_exceeds_legal",
                format!(
                    "承诺时限（{} 个{}）超过了法定时限（{} 个{}）",
                    p.value,
                    p.unit.label(),
                    l.value,
                    l.unit.label()
                ),
            )),
            LimitCheck::Undecidable => out.push(QualityIssue::warning(
                "promised_limit",
                "limit_unit_mismatch",
                format!(
                    "承诺时限以{}计、法定时限以{}计，无法确认承诺时限不超过法定时限，请统一单位",
                    p.unit.label(),
                    l.unit.label()
                ),
            )),
        },
        (Some(_), None) => {}
    }
    if s.legal_limit.is_none() && s.service_type != ServiceType::PublicService {
        out.push(QualityIssue::error(
            "legal_limit",
            "required",
            "行政权力事项须填写法定办结时限",
        ));
    }

    // Case type and the instant-case rule: 即办件 has a promised limit of 0 working days, and a
    // promised limit of 0 makes it an instant case.
    let promised_zero = s.promised_limit.is_some_and(|p| p.value == 0);
    match s.case_type {
        CaseType::Instant if s.promised_limit.is_some() && !promised_zero => out.push(QualityIssue::error(
            "promised_limit",
            "instant_case_has_limit",
            "即办件的承诺时限应为 0 个工作日",
        )),
        CaseType::Promised if promised_zero => out.push(QualityIssue::error(
            "case_type",
            "zero_limit_not_instant",
            "承诺时限为 0 的事项应为即办件",
        )),
        CaseType::Promised if s.name.contains("即办") || s.process.contains("即办") => {
            out.push(QualityIssue::error(
                "case_type",
                "instant_mention_not_instant",
                "事项标明“即办”，办件类型应为即办件",
            ))
        }
        _ => {}
    }

    // Online depth.
    if s.online_depth == OnlineDepth::FullyOnline {
        if s.onsite_visits > 0 {
            out.push(QualityIssue::error(
                "onsite_visits",
                "fully_online_needs_no_visit",
                format!("全程网办（Ⅳ级）事项的到办事现场次数应为 0，当前为 {}", s.onsite_visits),
            ));
        }
        if !s.channels.contains(&Channel::Web) && !s.channels.contains(&Channel::Mobile) {
            out.push(QualityIssue::error(
                "channels",
                "fully_online_needs_online_channel",
                "全程网办（Ⅳ级）事项的办理形式应包含网上办理或移动端办理",
            ));
        }
    }
    if s.onsite_visits > 5 {
        out.push(QualityIssue::warning(
            "onsite_visits",
            "too_many_visits",
            format!("到办事现场次数为 {}，请核实（一般不超过 2 次）", s.onsite_visits),
        ));
    }

    // Fee.
    if let Some(fee) = &s.fee {
        if blank(&fee.basis) {
            out.push(QualityIssue::error(
                "fee.basis",
                "fee_basis_missing",
                "收费事项须填写收费依据",
            ));
        }
        if blank(&fee.amount) {
            out.push(QualityIssue::error("fee.amount", "required", "收费事项须填写收费标准"));
        }
    }

    // Phones.
    for (field, value, label) in [
        ("consult_phone", &s.consult_phone, "咨询电话"),
        ("supervise_phone", &s.supervise_phone, "监督投诉电话"),
    ] {
        if !blank(value) && !phone_ok(value) {
            out.push(QualityIssue::error(
                field,
                "phone_invalid",
                format!("{label}格式不正确"),
            ));
        }
    }

    for (i, faq) in s.faqs.iter().enumerate() {
        if blank(&faq.question) {
            out.push(QualityIssue::error(
                format!("faqs[{i}].question"),
                "required",
                "常见问题的问题不能为空",
            ));
        }
        if blank(&faq.answer) {
            out.push(QualityIssue::error(
                format!("faqs[{i}].answer"),
                "required",
                "常见问题的解答不能为空",
            ));
        }
    }
    for (i, t) in s.themes.iter().enumerate() {
        if blank(t) {
            out.push(QualityIssue::error(
                format!("themes[{i}]"),
                "required",
                "主题分类不能为空",
            ));
        }
    }
    out
}

fn check_implementation_code(s: &ServiceRecord, base_ok: bool, credit_ok: bool, out: &mut Vec<QualityIssue>) {
    let code = s.implementation_code.as_str();
    let shape_ok = (code.len() == 31 || code.len() == 33)
        && code.is_ascii()
        && code
            .get(18..)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()));
    if !shape_ok {
        out.push(QualityIssue::error(
            "implementation_code",
            "implementation_code_invalid",
            "实施编码应为 18 位实施主体编码 + 1 位行使层级 + 12 位基本编码（可再加 2 位业务办理项编码）",
        ));
        return;
    }
    // Compare the embedded parts only where the record's own parts are valid: otherwise the
    // mismatch is a consequence of an issue already reported.
    let mismatch = |what: &str| {
        QualityIssue::error(
            "implementation_code",
            "implementation_code_mismatch",
            format!("实施编码中的{what}与本事项不一致"),
        )
    };
    if credit_ok && code.get(0..18) != Some(s.implementing_body_credit_code.as_str()) {
        out.push(mismatch("实施主体编码"));
    }
    if code.get(18..19) != Some(s.level.code()) {
        out.push(mismatch("行使层级"));
    }
    if base_ok && code.get(19..31) != Some(s.base_code.as_str()) {
        out.push(mismatch("基本编码"));
    }
}

/// Checks a material record and returns every issue.
pub fn validate_material(m: &MaterialRecord) -> Vec<QualityIssue> {
    let mut out = Vec::new();
    if blank(&m.name) {
        out.push(QualityIssue::error("name", "required", "材料名称不能为空"));
    } else if m.name.chars().count() > 128 {
        out.push(QualityIssue::error("name", "too_long", "材料名称不能超过 128 个字符"));
    }
    if m.source == MaterialSource::Government && blank(&m.issuer) {
        out.push(QualityIssue::error(
            "issuer",
            "required",
            "政府部门核发的材料须填写出具单位",
        ));
    }
    if blank(&m.acceptance_standard) {
        out.push(QualityIssue::error(
            "acceptance_standard",
            "required",
            "受理标准不能为空",
        ));
    }
    if m.form.has_paper() && m.originals == 0 && m.copies == 0 {
        out.push(QualityIssue::error(
            "originals",
            "paper_count_missing",
            "纸质材料须注明原件或复印件份数",
        ));
    }
    if !m.form.has_paper() && (m.originals > 0 || m.copies > 0) {
        out.push(QualityIssue::warning(
            "form",
            "electronic_with_paper_count",
            "仅收电子材料，却填写了纸质份数，请核实材料形式",
        ));
    }
    if m.copies > 20 || m.originals > 20 {
        out.push(QualityIssue::warning(
            "copies",
            "too_many_copies",
            "份数超过 20，请核实",
        ));
    }
    if let Some(code) = &m.code
        && blank(code)
    {
        out.push(QualityIssue::error(
            "code",
            "required",
            "材料编码不能为空字符串（不用时请删去）",
        ));
    }
    for (field, value) in [("blank_form", &m.blank_form), ("sample", &m.sample)] {
        if value.as_deref().is_some_and(|v| !file_ref_ok(v)) {
            out.push(QualityIssue::error(
                field,
                "file_ref_invalid",
                "文件引用应为已上传文件的 SHA-256 摘要（64 位小写十六进制）",
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::codes::MaterialForm;
    use super::super::record::Fee;
    use super::super::record::fixtures::{CREDIT, material, service};
    use super::*;
    use proptest::prelude::*;

    fn codes(issues: &[QualityIssue]) -> Vec<&'static str> {
        issues.iter().map(|i| i.code).collect()
    }

    #[test]
    fn credit_code_check() {
        assert!(credit_code_is_valid(CREDIT));
        assert!(credit_code_is_valid("91990100MA0000001G"));
        assert!(!credit_code_is_valid("91990100MA0000001H"));
        assert!(!credit_code_is_valid("91990100MA0000001"));
        assert!(!credit_code_is_valid("91990100MI0000001G")); // I is not in the alphabet
        assert!(!credit_code_is_valid("统一社会信用代码统一社会信用代码统一"));
    }

    #[test]
    fn fixture_is_clean() {
        assert_eq!(validate_service(&service()), vec![]);
        assert_eq!(validate_material(&material("营业执照")), vec![]);
    }

    #[test]
    fn reports_all_problems_at_once() {
        let mut s = service();
        s.name = " ".into();
        s.address.clear();
        s.promised_limit = Some(TimeLimit::working_days(30));
        s.online_depth = OnlineDepth::FullyOnline;
        s.onsite_visits = 1;
        s.fee = Some(Fee {
            amount: "10 元".into(),
            basis: "".into(),
        });
        s.implementing_body_credit_code = "91990100MA0000001H".into();
        let issues = validate_service(&s);
        let c = codes(&issues);
        for expected in [
            "required",
            "promised_exceeds_legal",
            "fully_online_needs_no_visit",
            "fee_basis_missing",
            "credit_code_invalid",
        ] {
            assert!(c.contains(&expected), "{expected} missing in {c:?}");
        }
        assert!(issues.iter().any(|i| i.field == "name"));
        assert!(issues.iter().any(|i| i.field == "address"));
        assert!(issues.iter().all(|i| !i.message.is_empty()));
    }

    #[test]
    fn limits_in_different_units() {
        let mut s = service();
        s.legal_limit = Some(TimeLimit::calendar_days(10));
        s.promised_limit = Some(TimeLimit::working_days(11));
        assert!(codes(&validate_service(&s)).contains(&"promised_exceeds_legal"));
        s.promised_limit = Some(TimeLimit::working_days(8));
        let issues = validate_service(&s);
        assert_eq!(codes(&issues), vec!["limit_unit_mismatch"]);
        assert_eq!(issues[0].severity, Severity::Warning);
        s.legal_limit = Some(TimeLimit::working_days(10));
        s.promised_limit = Some(TimeLimit::calendar_days(10));
        assert_eq!(validate_service(&s), vec![]);
    }

    #[test]
    fn instant_case_rules() {
        let mut s = service();
        s.promised_limit = Some(TimeLimit::working_days(0));
        assert_eq!(codes(&validate_service(&s)), vec!["zero_limit_not_instant"]);
        s.case_type = CaseType::Instant;
        assert_eq!(validate_service(&s), vec![]);
        s.promised_limit = Some(TimeLimit::working_days(3));
        assert_eq!(codes(&validate_service(&s)), vec!["instant_case_has_limit"]);
        let mut s = service();
        s.name = "个体工商户名称变更（即办）".into();
        assert_eq!(codes(&validate_service(&s)), vec!["instant_mention_not_instant"]);
    }

    #[test]
    fn code_formats() {
        let mut s = service();
        s.base_code = "00017200700".into();
        assert_eq!(codes(&validate_service(&s)), vec!["base_code_invalid"]);
        let mut s = service();
        s.implementation_code = format!("{CREDIT}3000172007000");
        assert_eq!(codes(&validate_service(&s)), vec!["implementation_code_mismatch"]);
        s.implementation_code = format!("{CREDIT}400017200700001");
        assert_eq!(validate_service(&s), vec![]);
        s.implementation_code = "abc".into();
        assert_eq!(codes(&validate_service(&s)), vec!["implementation_code_invalid"]);
        s.implementation_code = "91990100MA0000001G4000172007000".into();
        assert_eq!(codes(&validate_service(&s)), vec!["implementation_code_mismatch"]);
        let mut s = service();
        s.consult_phone = "call me".into();
        assert_eq!(codes(&validate_service(&s)), vec!["phone_invalid"]);
    }

    #[test]
    fn public_service_may_lack_legal_limit_but_power_may_not() {
        let mut s = service();
        s.legal_limit = None;
        assert_eq!(codes(&validate_service(&s)), vec!["required"]);
        s.service_type = ServiceType::PublicService;
        assert_eq!(validate_service(&s), vec![]);
    }

    #[test]
    fn fully_online_needs_online_channel() {
        let mut s = service();
        s.online_depth = OnlineDepth::FullyOnline;
        s.onsite_visits = 0;
        s.channels = [Channel::Window].into_iter().collect();
        assert_eq!(codes(&validate_service(&s)), vec!["fully_online_needs_online_channel"]);
    }

    #[test]
    fn material_rules() {
        let mut m = material("");
        m.source = MaterialSource::Government;
        m.acceptance_standard.clear();
        m.originals = 0;
        m.blank_form = Some(" ".into());
        let c = codes(&validate_material(&m));
        assert_eq!(
            c,
            vec![
                "required",
                "required",
                "required",
                "paper_count_missing",
                "file_ref_invalid"
            ]
        );
        let mut m = material("身份证");
        m.form = MaterialForm::Electronic;
        assert_eq!(codes(&validate_material(&m)), vec!["electronic_with_paper_count"]);
        let mut m = material("申请表");
        m.blank_form = Some("ab".repeat(32));
        m.sample = Some("AB".repeat(32));
        assert_eq!(codes(&validate_material(&m)), vec!["file_ref_invalid"]);
        assert_eq!(validate_material(&m)[0].field, "sample");
    }

    proptest! {
        #[test]
        fn credit_check_never_panics(s in "\\PC{0,24}") {
            let _ = credit_code_is_valid(&s);
        }

        #[test]
        fn one_changed_character_breaks_the_check(pos in 0usize..18, repl in 0usize..31) {
            let alphabet: Vec<char> = CREDIT_ALPHABET.chars().collect();
            let mut chars: Vec<char> = CREDIT.chars().collect();
            prop_assume!(chars[pos] != alphabet[repl]);
            chars[pos] = alphabet[repl];
            let changed: String = chars.into_iter().collect();
            prop_assert!(!credit_code_is_valid(&changed));
        }

        #[test]
        fn implementation_code_never_panics(code in "\\PC{0,40}") {
            let mut s = service();
            s.implementation_code = code;
            let _ = validate_service(&s);
        }
    }
}
