//! Application forms declared as data: a [`FormDefinition`] lists its [`FormField`]s, and
//! [`validate_submission`] checks what an applicant sent, reporting every error at once with the
//! field key, a stable code and a 简体 message, and returning the values normalised (trimmed,
//! upper-cased ID numbers, ISO dates, bare 11-digit phones…). Unknown keys are refused, so a client
//! cannot smuggle data into a case.
//!
//! The ID-number, credit-code and phone checks here are small private copies: `ids.rs` is written in
//! parallel and they are to be unified later.
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One choice of a select field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SelectOption {
    /// Value stored in the submission.
    pub value: String,
    /// 简体 label shown.
    pub label: String,
}

/// What a field holds, and so how it is checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "options", rename_all = "snake_case")]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// Several lines of text.
    TextArea,
    /// A decimal number, optionally signed.
    Number,
    /// A calendar date: `2026-03-18` or `2026年3月18日`; normalised to ISO.
    Date,
    /// One of the options, by value.
    Select(Vec<SelectOption>),
    /// Resident ID number (GB 11643).
    IdNumber,
    /// Mainland mobile phone number.
    Phone,
    /// Unified social credit code (GB 32100).
    CreditCode,
    Email,
    /// A yes/no box; a required checkbox must be ticked (consent, commitment).
    Checkbox,
}

/// A constraint on a date field relative to the day of submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateRule {
    /// Today or before (a birth date, an issue date).
    NotFuture,
    /// Today or after (a requested appointment or start date).
    NotPast,
}

/// One field of an application form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// Stable key: `[a-z][a-z0-9_]*`, at most 64 characters.
    pub key: String,
    /// 简体 label.
    pub label: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// Maximum length in characters (text kinds).
    #[serde(default)]
    pub max_len: Option<usize>,
    /// An input mask the value must fit: `#` a digit, `A` an ASCII letter, `X` a letter or digit, `?`
    /// any character, `\` takes the next character literally, anything else is itself. A mask rather
    /// than a regular expression keeps forms safe to author in the admin UI and the domain free of a
    /// regex engine.
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub date_rule: Option<DateRule>,
}

impl FormField {
    /// A field with no constraints beyond its kind.
    pub fn new(key: &str, label: &str, kind: FieldKind, required: bool) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            kind,
            required,
            max_len: None,
            pattern: None,
            date_rule: None,
        }
    }
}

/// An application form.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FormDefinition {
    pub fields: Vec<FormField>,
}

/// One error of a submission or a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Field key (for definitions, `fields[i]` when the key itself is at fault).
    pub key: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(key: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            code,
            message: message.into(),
        }
    }
}

/// Default cap on a text value when the field sets none, so a submission stays a sane size.
pub const DEFAULT_MAX_LEN: usize = 200;
/// Default cap on a text area.
pub const DEFAULT_TEXTAREA_MAX_LEN: usize = 5000;

fn key_ok(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl FormDefinition {
    /// Checks the definition itself: keys well-formed and unique, labels present, selects with
    /// unique options, limits and masks sensible.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            let at = format!("fields[{i}]");
            if !key_ok(&f.key) {
                errors.push(FieldError::new(
                    &at,
                    "field_key_invalid",
                    "字段标识须以小写字母开头，仅含小写字母、数字和下划线，且不超过 64 位",
                ));
            } else if !seen.insert(f.key.as_str()) {
                errors.push(FieldError::new(
                    &f.key,
                    "field_key_duplicate",
                    format!("字段标识 {} 重复", f.key),
                ));
            }
            let key = if key_ok(&f.key) { f.key.as_str() } else { at.as_str() };
            if f.label.trim().is_empty() {
                errors.push(FieldError::new(key, "field_label_required", "字段名称不能为空"));
            }
            if let FieldKind::Select(options) = &f.kind {
                if options.is_empty() {
                    errors.push(FieldError::new(
                        key,
                        "select_options_required",
                        "下拉选择字段至少需要一个选项",
                    ));
                }
                let mut values = BTreeSet::new();
                for o in options {
                    if o.value.trim().is_empty() || o.label.trim().is_empty() {
                        errors.push(FieldError::new(key, "select_option_invalid", "选项的值和名称不能为空"));
                    } else if !values.insert(o.value.trim()) {
                        errors.push(FieldError::new(
                            key,
                            "select_option_duplicate",
                            format!("选项值 {} 重复", o.value),
                        ));
                    }
                }
            }
            if f.max_len == Some(0) {
                errors.push(FieldError::new(key, "max_len_invalid", "最大长度须大于 0"));
            }
            if let Some(p) = &f.pattern
                && (p.is_empty() || p.ends_with('\\') && !p.ends_with("\\\\"))
            {
                errors.push(FieldError::new(
                    key,
                    "pattern_invalid",
                    "格式掩码不能为空，且不能以单个反斜杠结尾",
                ));
            }
            if f.date_rule.is_some() && f.kind != FieldKind::Date {
                errors.push(FieldError::new(
                    key,
                    "date_rule_not_date",
                    "只有日期字段可以设置日期范围",
                ));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    pub fn field(&self, key: &str) -> Option<&FormField> {
        self.fields.iter().find(|f| f.key == key)
    }
}

/// Validates a submission against a form. Returns the normalised values of every non-empty field, or
/// every error found: missing required fields, bad values, and keys the form does not declare.
pub fn validate_submission(
    def: &FormDefinition,
    values: &BTreeMap<String, String>,
    today: Date,
) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for key in values.keys() {
        if def.field(key).is_none() {
            errors.push(FieldError::new(key, "unknown_field", format!("表单中没有字段 {key}")));
        }
    }
    for f in &def.fields {
        let raw = values.get(&f.key).map(String::as_str).unwrap_or("");
        match normalise_value(f, raw, today) {
            Ok(Some(v)) => {
                out.insert(f.key.clone(), v);
            }
            Ok(None) if f.required => {
                let msg = if f.kind == FieldKind::Checkbox {
                    format!("请勾选“{}”", f.label)
                } else {
                    format!("{}不能为空", f.label)
                };
                errors.push(FieldError::new(&f.key, "required", msg));
            }
            Ok(None) => {}
            Err((code, message)) => errors.push(FieldError::new(&f.key, code, message)),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// Validates a JSON object submission: strings, numbers and booleans are taken as text; `null` is
/// an empty value; arrays and objects are refused.
pub fn validate_json_submission(
    def: &FormDefinition,
    values: &serde_json::Map<String, serde_json::Value>,
    today: Date,
) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    use serde_json::Value;
    let mut flat = BTreeMap::new();
    let mut errors = Vec::new();
    for (k, v) in values {
        let text = match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Array(_) | Value::Object(_) => {
                errors.push(FieldError::new(k, "value_not_scalar", "字段值应为文本、数字或是否"));
                continue;
            }
        };
        flat.insert(k.clone(), text);
    }
    match validate_submission(def, &flat, today) {
        Ok(v) if errors.is_empty() => Ok(v),
        Ok(_) => Err(errors),
        Err(mut more) => {
            errors.append(&mut more);
            Err(errors)
        }
    }
}

type ValueError = (&'static str, String);

/// Checks and normalises one value; `Ok(None)` when it is empty.
fn normalise_value(f: &FormField, raw: &str, today: Date) -> Result<Option<String>, ValueError> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let label = f.label.as_str();
    let value = match &f.kind {
        FieldKind::Text => {
            if v.chars().any(char::is_control) {
                return Err(("control_chars", format!("{label}含有不可见的控制字符")));
            }
            check_len(label, v, f.max_len.unwrap_or(DEFAULT_MAX_LEN))?;
            v.to_owned()
        }
        FieldKind::TextArea => {
            if v.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
                return Err(("control_chars", format!("{label}含有不可见的控制字符")));
            }
            let v = v.replace("\r\n", "\n");
            check_len(label, &v, f.max_len.unwrap_or(DEFAULT_TEXTAREA_MAX_LEN))?;
            v
        }
        FieldKind::Number => normalise_number(v).ok_or(("number_invalid", format!("{label}应为数字")))?,
        FieldKind::Date => {
            let d = parse_date(v).ok_or(("date_invalid", format!("{label}不是有效日期，请按 2026-03-18 填写")))?;
            match f.date_rule {
                Some(DateRule::NotFuture) if d > today => {
                    return Err(("date_in_future", format!("{label}不能晚于今天")));
                }
                Some(DateRule::NotPast) if d < today => {
                    return Err(("date_in_past", format!("{label}不能早于今天")));
                }
                _ => {}
            }
            d.to_string()
        }
        FieldKind::Select(options) => options
            .iter()
            .find(|o| o.value.trim() == v)
            .map(|o| o.value.trim().to_owned())
            .ok_or(("option_invalid", format!("{label}的选项无效")))?,
        FieldKind::IdNumber => normalise_id_number(v, today).map_err(|(c, m)| (c, format!("{label}{m}")))?,
        FieldKind::Phone => normalise_phone(v).ok_or(("phone_invalid", format!("{label}应为 11 位手机号码")))?,
        FieldKind::CreditCode => {
            let up = v.to_ascii_uppercase();
            if !crate::catalogue::credit_code_is_valid(&up) {
                return Err(("credit_code_invalid", format!("{label}不是有效的统一社会信用代码")));
            }
            up
        }
        FieldKind::Email => {
            if !email_ok(v) {
                return Err(("email_invalid", format!("{label}不是有效的电子邮箱地址")));
            }
            v.to_owned()
        }
        FieldKind::Checkbox => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => "true".to_owned(),
            // An unticked box is an empty value, so a required one reports `required`.
            "false" | "0" | "off" | "no" => return Ok(None),
            _ => return Err(("checkbox_invalid", format!("{label}的值应为是或否"))),
        },
    };
    if let Some(mask) = &f.pattern
        && !mask_matches(mask, &value)
    {
        return Err(("pattern_mismatch", format!("{label}的格式不正确（应为 {mask}）")));
    }
    Ok(Some(value))
}

fn check_len(label: &str, v: &str, max: usize) -> Result<(), ValueError> {
    if v.chars().count() > max {
        return Err(("too_long", format!("{label}不能超过 {max} 个字符")));
    }
    Ok(())
}

fn normalise_number(v: &str) -> Option<String> {
    let v = v.strip_prefix('+').unwrap_or(v);
    let (sign, digits) = v.strip_prefix('-').map_or(("", v), |d| ("-", d));
    let (int, frac) = digits.split_once('.').map_or((digits, None), |(i, f)| (i, Some(f)));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) || digits.len() > 30 {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.map(|f| f.trim_end_matches('0')).filter(|f| !f.is_empty());
    let sign = if int == "0" && frac.is_none() { "" } else { sign };
    Some(match frac {
        Some(f) => format!("{sign}{int}.{f}"),
        None => format!("{sign}{int}"),
    })
}

fn parse_date(v: &str) -> Option<Date> {
    if let Ok(d) = v.parse::<Date>() {
        return Some(d);
    }
    let rest = v.strip_suffix('日')?;
    let (y, rest) = rest.split_once('年')?;
    let (m, d) = rest.split_once('月')?;
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// GB 11643: 17 digits + ISO 7064 MOD 11-2 check character ('X' for 10), with a real birth date
/// (positions 7–14) not after today and not before 1900.
fn normalise_id_number(v: &str, today: Date) -> Result<String, (&'static str, &'static str)> {
    let up = v.to_ascii_uppercase();
    let b = up.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(("id_number_format", "应为 18 位，前 17 位为数字，末位为数字或 X"));
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    if ID_CHECK.get((sum % 11) as usize) != Some(&b[17]) {
        return Err(("id_number_checksum", "校验位不正确，请核对"));
    }
    let birth = up
        .get(6..14)
        .and_then(|s| {
            let y: i16 = s.get(0..4)?.parse().ok()?;
            let m: i8 = s.get(4..6)?.parse().ok()?;
            let d: i8 = s.get(6..8)?.parse().ok()?;
            Date::new(y, m, d).ok()
        })
        .filter(|d| *d <= today && d.year() >= 1900);
    if birth.is_none() {
        return Err(("id_number_birth_date", "中的出生日期无效"));
    }
    Ok(up)
}

/// Mainland mobile number: 11 digits `1[3-9]…`; blanks and hyphens ignored, `+86`/`86` prefix dropped.
fn normalise_phone(v: &str) -> Option<String> {
    let s: String = v.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let s = s
        .strip_prefix("+86")
        .or_else(|| (s.len() == 13).then(|| s.strip_prefix("86")).flatten())
        .unwrap_or(&s);
    let b = s.as_bytes();
    (b.len() == 11 && b.iter().all(u8::is_ascii_digit) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]))
        .then(|| s.to_owned())
}

fn email_ok(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    v.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn mask_matches(mask: &str, value: &str) -> bool {
    let mut m = mask.chars();
    let mut v = value.chars();
    loop {
        match (m.next(), v.next()) {
            (None, None) => return true,
            (Some('\\'), Some(c)) => {
                if m.next() != Some(c) {
                    return false;
                }
            }
            (Some('#'), Some(c)) if c.is_ascii_digit() => {}
            (Some('A'), Some(c)) if c.is_ascii_alphabetic() => {}
            (Some('X'), Some(c)) if c.is_ascii_alphanumeric() => {}
            (Some('?'), Some(_)) => {}
            (Some(p), Some(c)) if !matches!(p, '#' | 'A' | 'X' | '?') && p == c => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    const TODAY: Date = date(2026, 3, 18);

    fn def() -> FormDefinition {
        let mut postcode = FormField::new("postcode", "邮政编码", FieldKind::Text, false);
        postcode.pattern = Some("######".into());
        let mut birth = FormField::new("founded", "成立日期", FieldKind::Date, false);
        birth.date_rule = Some(DateRule::NotFuture);
        let mut name = FormField::new("name", "姓名", FieldKind::Text, true);
        name.max_len = Some(10);
        FormDefinition {
            fields: vec![
                name,
                FormField::new("id_number", "身份证号码", FieldKind::IdNumber, true),
                FormField::new("phone", "手机号码", FieldKind::Phone, true),
                FormField::new("credit_code", "统一社会信用代码", FieldKind::CreditCode, false),
                FormField::new("email", "电子邮箱", FieldKind::Email, false),
                FormField::new("capital", "注册资本（万元）", FieldKind::Number, false),
                FormField::new(
                    "kind",
                    "企业类型",
                    FieldKind::Select(vec![
                        SelectOption {
                            value: "llc".into(),
                            label: "有限责任公司".into(),
                        },
                        SelectOption {
                            value: "sole".into(),
                            label: "个人独资企业".into(),
                        },
                    ]),
                    false,
                ),
                FormField::new("note", "备注", FieldKind::TextArea, false),
                FormField::new("consent", "本人承诺所填信息真实", FieldKind::Checkbox, true),
                postcode,
                birth,
            ],
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn valid_submission_is_normalised() {
        let out = validate_submission(
            &def(),
            &map(&[
                ("name", " 张三 "),
                ("id_number", "11010519491231002x"),
                ("phone", "+86 138-0013-8000"),
                ("credit_code", "91990100ma0000001g"),
                ("email", "a@b.cn"),
                ("capital", "+0100.50"),
                ("kind", "llc"),
                ("note", "第一行\r\n第二行"),
                ("consent", "on"),
                ("postcode", "999001"),
                ("founded", "2020年1月2日"),
            ]),
            TODAY,
        )
        .unwrap();
        assert_eq!(out["name"], "张三");
        assert_eq!(out["id_number"], "11010519491231002X");
        assert_eq!(out["phone"], "13800138000");
        assert_eq!(out["credit_code"], "91990100MA0000001G");
        assert_eq!(out["capital"], "100.5");
        assert_eq!(out["note"], "第一行\n第二行");
        assert_eq!(out["consent"], "true");
        assert_eq!(out["founded"], "2020-01-02");
    }

    #[test]
    fn every_error_is_reported() {
        let errs = validate_submission(
            &def(),
            &map(&[
                ("name", "一二三四五六七八九十十一"),
                ("id_number", "110105194912310021"),
                ("phone", "12800138000"),
                ("credit_code", "91990100MA0000001H"),
                ("email", "a@b"),
                ("capital", "1e5"),
                ("kind", "corp"),
                ("consent", "false"),
                ("postcode", "99900"),
                ("founded", "2027-01-01"),
                ("hacker", "x"),
            ]),
            TODAY,
        )
        .unwrap_err();
        let codes: BTreeMap<&str, &str> = errs.iter().map(|e| (e.key.as_str(), e.code)).collect();
        assert_eq!(codes["name"], "too_long");
        assert_eq!(codes["id_number"], "id_number_checksum");
        assert_eq!(codes["phone"], "phone_invalid");
        assert_eq!(codes["credit_code"], "credit_code_invalid");
        assert_eq!(codes["email"], "email_invalid");
        assert_eq!(codes["capital"], "number_invalid");
        assert_eq!(codes["kind"], "option_invalid");
        assert_eq!(codes["consent"], "required");
        assert_eq!(codes["postcode"], "pattern_mismatch");
        assert_eq!(codes["founded"], "date_in_future");
        assert_eq!(codes["hacker"], "unknown_field");
        assert_eq!(errs.len(), 11);
        assert!(errs.iter().all(|e| !e.message.is_empty()));
    }

    #[test]
    fn id_number_rules() {
        assert_eq!(
            normalise_id_number("11010519491231002X", TODAY),
            Ok("11010519491231002X".into())
        );
        // Valid check digit but 2 月 30 日 does not exist.
        let fake = with_check("11010519490230002");
        assert_eq!(normalise_id_number(&fake, TODAY).unwrap_err().0, "id_number_birth_date");
        let future = with_check("11010520300101002");
        assert_eq!(
            normalise_id_number(&future, TODAY).unwrap_err().0,
            "id_number_birth_date"
        );
        assert_eq!(
            normalise_id_number("1101051949", TODAY).unwrap_err().0,
            "id_number_format"
        );
    }

    fn with_check(first17: &str) -> String {
        let sum: u32 = first17
            .bytes()
            .zip(ID_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        format!("{first17}{}", ID_CHECK[(sum % 11) as usize] as char)
    }

    #[test]
    fn json_submission() {
        let v: serde_json::Value = serde_json::json!({
            "name": "李四", "id_number": "11010519491231002X", "phone": 13800138000u64,
            "consent": true, "capital": 12.5, "kind": ["llc"]
        });
        let errs = validate_json_submission(&def(), v.as_object().unwrap(), TODAY).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code, "value_not_scalar");
        let v = serde_json::json!({"name": "李四", "id_number": "11010519491231002X", "phone": 13800138000u64, "consent": true, "email": null});
        let out = validate_json_submission(&def(), v.as_object().unwrap(), TODAY).unwrap();
        assert_eq!(out["phone"], "13800138000");
        assert!(!out.contains_key("email"));
    }

    #[test]
    fn definition_checks() {
        assert_eq!(def().validate(), Ok(()));
        let mut d = def();
        d.fields
            .push(FormField::new("name", "", FieldKind::Select(vec![]), false));
        d.fields.push(FormField::new("Bad-Key", "x", FieldKind::Text, false));
        let mut f = FormField::new("when", "时间", FieldKind::Text, false);
        f.date_rule = Some(DateRule::NotPast);
        f.max_len = Some(0);
        d.fields.push(f);
        let codes: Vec<&str> = d.validate().unwrap_err().iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            vec![
                "field_key_duplicate",
                "field_label_required",
                "select_options_required",
                "field_key_invalid",
                "max_len_invalid",
                "date_rule_not_date"
            ]
        );
        let json = serde_json::to_string(&def()).unwrap();
        let back: FormDefinition = serde_json::from_str(&json).unwrap();
        assert_eq!(back, def());
    }

    #[test]
    fn masks_and_numbers() {
        assert!(mask_matches("AX-#\\#", "aZ-1#"));
        assert!(!mask_matches("###", "12"));
        assert!(!mask_matches("###", "1234"));
        assert_eq!(normalise_number("-0.0").as_deref(), Some("0"));
        assert_eq!(normalise_number("007").as_deref(), Some("7"));
        assert_eq!(normalise_number("-3.140").as_deref(), Some("-3.14"));
        assert_eq!(normalise_number("."), None);
        assert_eq!(normalise_phone("8613800138000").as_deref(), Some("13800138000"));
    }

    proptest! {
        #[test]
        fn validation_never_panics(
            values in prop::collection::btree_map("[a-z_]{1,12}|name|id_number|phone|capital|founded|consent|postcode", "\\PC{0,30}", 0..12),
            mask in "\\PC{0,8}",
        ) {
            let mut d = def();
            d.fields[0].pattern = Some(mask);
            let _ = d.validate();
            let _ = validate_submission(&d, &values, TODAY);
        }

        #[test]
        fn valid_output_validates_again(id in "[0-9]{17}") {
            let id = with_check(&id);
            let values = map(&[("name", "王五"), ("id_number", &id), ("phone", "13912345678"), ("consent", "1")]);
            if let Ok(out) = validate_submission(&def(), &values, TODAY) {
                prop_assert_eq!(validate_submission(&def(), &out, TODAY), Ok(out.clone()));
            }
        }
    }
}
