//! The fuzz entry points, one function per target, each taking the raw input bytes.
//!
//! This one file is shared: the libFuzzer targets in `fuzz_targets/` call it, and the domain
//! crate's `tests/corpus.rs` includes it (`#[path]`) to replay the saved corpus as ordinary tests,
//! so CI checks exactly what the fuzzer ran. It may only use `onestop_domain`, `serde_json` and
//! `jiff` (dependencies of the domain crate). Besides "no panic", each target checks the
//! properties a parser owes its callers: what it accepts re-parses to the same value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use onestop_domain::calendar::YearCalendar;
use onestop_domain::case_no::{CaseNo, TrackingCode};
use onestop_domain::form::{DateRule, FieldKind, FormDefinition, FormField, SelectOption, validate_submission};
use onestop_domain::ids::{CreditCode, IdNumber, Phone};
use onestop_domain::region::RegionCode;
use onestop_domain::workflow::{self, Action, WorkflowDefinition};
use std::collections::BTreeMap;

/// A fuzz entry point: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name, as the corpus directories are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("id_number", id_number),
    ("credit_code", credit_code),
    ("phone", phone),
    ("case_no", case_no),
    ("tracking_code", tracking_code),
    ("year_calendar", year_calendar),
    ("region_code", region_code),
    ("form_submission", form_submission),
    ("workflow_json", workflow_json),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

pub fn id_number(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(id) = IdNumber::parse(s) {
        assert_eq!(id.as_str().len(), 18);
        assert_eq!(
            IdNumber::parse(id.as_str()).as_ref(),
            Ok(&id),
            "canonical form re-parses"
        );
        let _ = (id.masked(), id.is_male(), id.birth_date(), format!("{id:?}"));
        assert!(
            !format!("{id:?}").contains(&id.as_str()[4..14]),
            "Debug masks the number"
        );
    }
    let _ = IdNumber::parse_as_of(s, jiff::civil::date(2026, 3, 18));
}

pub fn credit_code(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(c) = CreditCode::parse(s) {
        assert_eq!(CreditCode::parse(c.as_str()).as_ref(), Ok(&c));
        assert_eq!(c.region_part().len(), 6);
        let _ = (c.masked(), format!("{c:?}"));
    }
}

pub fn phone(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(p) = Phone::parse(s) {
        assert_eq!(Phone::parse(p.as_str()).as_ref(), Ok(&p));
        assert_eq!(p.last4().len(), 4);
        let _ = (p.masked(), format!("{p:?}"));
    }
}

pub fn case_no(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(c) = CaseNo::parse(s) {
        let again = CaseNo::parse(c.as_str()).expect("canonical case number re-parses");
        assert_eq!(again, c);
        assert_eq!(CaseNo::new(c.region_code(), c.date(), c.seq()).as_ref(), Ok(&c));
        let _ = c.to_string();
    }
}

pub fn tracking_code(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(t) = TrackingCode::parse(s) {
        assert_eq!(t.as_str().len(), TrackingCode::LEN);
        assert_eq!(
            TrackingCode::parse(&t.grouped()).as_ref(),
            Ok(&t),
            "printed form re-parses"
        );
        let _ = format!("{t:?}");
    }
    if let Ok(bytes) = <[u8; 10]>::try_from(data) {
        let t = TrackingCode::from_random_bytes(&bytes);
        assert_eq!(TrackingCode::parse(t.as_str()).as_ref(), Ok(&t));
    }
}

pub fn year_calendar(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(y) = YearCalendar::parse_toml(s) {
        for h in y.holidays() {
            assert_eq!(h.start.year(), y.year());
            assert!(y.holiday_on(h.start).is_some());
            for &m in &h.makeup_workdays {
                assert!(y.makeup_for(m).is_some() && y.holiday_on(m).is_none());
            }
        }
        let rebuilt = YearCalendar::new(y.year(), y.source(), y.holidays().to_vec()).expect("a parsed year rebuilds");
        assert_eq!(rebuilt, y);
    }
}

pub fn region_code(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(c) = RegionCode::parse(s) {
        assert_eq!(RegionCode::parse(c.as_str()).as_ref(), Ok(&c));
        let level = c.level();
        assert_eq!(RegionCode::parse_for_level(c.as_str(), level).as_ref(), Ok(&c));
        let _ = c.is_fictional();
    }
}

/// A form with every field kind, masks (with an escape) and date rules.
fn sample_form() -> FormDefinition {
    let mut postcode = FormField::new("postcode", "邮政编码", FieldKind::Text, false);
    postcode.pattern = Some("######".into());
    let mut plate = FormField::new("plate", "车牌", FieldKind::Text, false);
    plate.pattern = Some("\\京A-XXXX?".into());
    let mut founded = FormField::new("founded", "成立日期", FieldKind::Date, false);
    founded.date_rule = Some(DateRule::NotFuture);
    let mut visit = FormField::new("visit", "预约日期", FieldKind::Date, false);
    visit.date_rule = Some(DateRule::NotPast);
    let mut name = FormField::new("name", "姓名", FieldKind::Text, true);
    name.max_len = Some(10);
    let mut note = FormField::new("note", "备注", FieldKind::TextArea, false);
    note.max_len = Some(50);
    FormDefinition {
        fields: vec![
            name,
            FormField::new("id_number", "身份证号码", FieldKind::IdNumber, true),
            FormField::new("phone", "手机号码", FieldKind::Phone, true),
            FormField::new("credit_code", "统一社会信用代码", FieldKind::CreditCode, false),
            FormField::new("email", "电子邮箱", FieldKind::Email, false),
            FormField::new("capital", "注册资本", FieldKind::Number, false),
            FormField::new(
                "kind",
                "企业类型",
                FieldKind::Select(vec![
                    SelectOption {
                        value: "llc".into(),
                        label: "有限责任公司".into(),
                    },
                    SelectOption {
                        value: " sole ".into(),
                        label: "个人独资企业".into(),
                    },
                ]),
                false,
            ),
            FormField::new("consent", "本人承诺", FieldKind::Checkbox, true),
            postcode,
            plate,
            founded,
            visit,
            note,
        ],
    }
}

/// Input: either a JSON object `{"form": FormDefinition, "values": {key: text}}` (any definition,
/// valid or not, must be handled), or `key=value` lines checked against a fixed form with every
/// field kind.
pub fn form_submission(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let today = jiff::civil::date(2026, 3, 18);
    #[derive(serde::Deserialize)]
    struct Custom {
        form: FormDefinition,
        #[serde(default)]
        values: BTreeMap<String, String>,
    }
    let (def, values) = match serde_json::from_str::<Custom>(s) {
        Ok(c) => {
            let _ = c.form.validate();
            (c.form, c.values)
        }
        Err(_) => {
            let values = s
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            (sample_form(), values)
        }
    };
    match validate_submission(&def, &values, today) {
        Ok(out) => {
            for (k, v) in &out {
                assert!(def.field(k).is_some(), "only declared fields come back");
                assert!(!v.is_empty() && v.trim() == v, "values come back trimmed and non-empty");
            }
            // Normalised values are a fixed point (only when keys are unique: a duplicated key in
            // a broken definition is reported by `validate`, not here).
            if def.validate().is_ok() {
                let again = validate_submission(&def, &out, today).expect("normalised values validate again");
                assert_eq!(again, out, "normalising is idempotent");
            }
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
    let json: serde_json::Map<String, serde_json::Value> = values
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let _ = onestop_domain::form::validate_json_submission(&def, &json, today);
}

/// Input: a workflow definition as JSON. A valid one is run: each open step takes, in turn, the
/// first action it allows, for at most 200 moves.
pub fn workflow_json(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let Ok(def) = WorkflowDefinition::from_json(s) else {
        return;
    };
    let again = WorkflowDefinition::from_json(&def.to_json()).expect("to_json output parses");
    assert_eq!(again, def);
    let _ = workflow::distance_to_end(&def);
    if workflow::validate(&def).is_err() {
        assert!(workflow::start(&def).is_err(), "an invalid definition does not start");
        return;
    }
    let (mut state, _) = workflow::start(&def).expect("a valid definition starts");
    for round in 0..200usize {
        if state.concluded.is_some() {
            break;
        }
        let open: Vec<_> = state.open_steps().cloned().collect();
        let Some(step) = open.get(round % open.len().max(1)) else {
            break;
        };
        let Some(action) = def
            .step(step)
            .and_then(|d| Action::ALL.into_iter().find(|a| d.transition(*a).is_some()))
        else {
            break;
        };
        let before = state.clone();
        if workflow::apply(&def, &mut state, step, action).is_err() {
            assert_eq!(state, before, "a refused action leaves the state unchanged");
            break;
        }
    }
}
