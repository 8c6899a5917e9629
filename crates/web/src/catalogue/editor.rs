//! The base-record editor's form, as data: every input of the page as the text a person typed
//! ([`DraftInputs`]), read from and turned back into a version's content, so that a refused save
//! shows exactly what was sent with each problem beside its input. Inputs are named after the
//! record's JSON paths (`fee.basis`, `materials[2].issuer`, `form[0].label`), which is also how the
//! quality rules name fields, so an issue finds its input without a lookup table per rule.
//!
//! Pure: no I/O. The page handlers (`pages::catalogue::editor`) add the uploads and the use cases.
use onestop_domain::catalogue::{
    CaseType, Channel, Faq, Fee, MaterialForm, MaterialRecord, MaterialSource, OnlineDepth, ServiceLevel,
    ServiceObject, ServiceRecord, ServiceType, TimeLimit, TimeUnit,
};
use onestop_domain::form::{DateRule, FieldKind, FormDefinition, FormField, SelectOption};
use onestop_store::catalogue::VersionContent;
use std::collections::{BTreeMap, BTreeSet};

/// Most rows a group may have (a sane size for one page and one request).
pub const MAX_FAQS: usize = 50;
pub const MAX_MATERIALS: usize = 60;
pub const MAX_FORM_FIELDS: usize = 80;

/// The record's inputs, by name (see the module comment); multi-valued ones apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DraftInputs {
    /// Single-valued inputs of the record: `name`, `legal_limit.value`, `fee.charged`…
    pub record: BTreeMap<String, String>,
    /// 服务对象 and 办理形式 codes (check boxes).
    pub objects: BTreeSet<String>,
    pub channels: BTreeSet<String>,
    pub faqs: Vec<FaqInputs>,
    pub materials: Vec<MaterialInputs>,
    pub form: Vec<FieldInputs>,
    /// The day the version is to take effect (ISO date).
    pub effective_from: String,
    /// What the editor started from (`store::catalogue::draft_token`).
    pub token: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaqInputs {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaterialInputs {
    pub name: String,
    pub code: String,
    pub issuer: String,
    pub originals: String,
    pub copies: String,
    pub form: String,
    pub source: String,
    pub required: bool,
    pub acceptance_standard: String,
    /// SHA-256 of the stored blank form / sample, or empty.
    pub blank_form: String,
    pub sample: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldInputs {
    pub key: String,
    pub label: String,
    /// `text`, `text_area`, `number`, `date`, `select`, `id_number`, `phone`, `credit_code`, `email`, `checkbox`.
    pub kind: String,
    pub required: bool,
    pub max_len: String,
    pub pattern: String,
    /// Empty, `not_future` or `not_past`.
    pub date_rule: String,
    /// Select options, one per line: `value=label`.
    pub options: String,
}

/// The single-valued record inputs, in page order: name and whether the rules require it.
pub const RECORD_INPUTS: &[&str] = &[
    "name",
    "base_code",
    "service_type",
    "level",
    "legal_limit.value",
    "legal_limit.unit",
    "promised_limit.value",
    "promised_limit.unit",
    "case_type",
    "onsite_visits",
    "online_depth",
    "fee.charged",
    "fee.amount",
    "fee.basis",
    "legal_basis",
    "implementing_body",
    "implementing_body_credit_code",
    "department_code",
    "department_name",
    "conditions",
    "process",
    "consult_phone",
    "supervise_phone",
    "address",
    "hours",
    "themes",
    "implementation_code",
];

/// The field kinds an author can pick, as (input value, 简体 label).
pub const FIELD_KINDS: &[(&str, &str)] = &[
    ("text", "单行文字"),
    ("text_area", "多行文字"),
    ("number", "数字"),
    ("date", "日期"),
    ("select", "下拉选择"),
    ("id_number", "居民身份证号码"),
    ("phone", "手机号码"),
    ("credit_code", "统一社会信用代码"),
    ("email", "电子邮箱"),
    ("checkbox", "勾选（承诺、同意）"),
];

/// An input's problem: the input's name and the message shown beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub input: String,
    pub code: String,
    pub message: String,
}

fn err(input: impl Into<String>, code: &str, message: impl Into<String>) -> InputError {
    InputError {
        input: input.into(),
        code: code.to_owned(),
        message: message.into(),
    }
}

fn limit_inputs(l: Option<TimeLimit>) -> (String, String) {
    match l {
        Some(l) => (l.value.to_string(), l.unit.code().to_owned()),
        None => (String::new(), TimeUnit::WorkingDays.code().to_owned()),
    }
}

/// The editor's name of a field kind (see [`FIELD_KINDS`]).
pub fn kind_name(k: &FieldKind) -> &'static str {
    match k {
        FieldKind::Text => "text",
        FieldKind::TextArea => "text_area",
        FieldKind::Number => "number",
        FieldKind::Date => "date",
        FieldKind::Select(_) => "select",
        FieldKind::IdNumber => "id_number",
        FieldKind::Phone => "phone",
        FieldKind::CreditCode => "credit_code",
        FieldKind::Email => "email",
        FieldKind::Checkbox => "checkbox",
    }
}

/// The inputs showing an application form's fields.
fn field_inputs(form: &FormDefinition) -> Vec<FieldInputs> {
    form.fields
        .iter()
        .map(|f| FieldInputs {
            key: f.key.clone(),
            label: f.label.clone(),
            kind: kind_name(&f.kind).to_owned(),
            required: f.required,
            max_len: f.max_len.map(|n| n.to_string()).unwrap_or_default(),
            pattern: f.pattern.clone().unwrap_or_default(),
            date_rule: match f.date_rule {
                Some(DateRule::NotFuture) => "not_future".into(),
                Some(DateRule::NotPast) => "not_past".into(),
                None => String::new(),
            },
            options: match &f.kind {
                FieldKind::Select(opts) => opts
                    .iter()
                    .map(|o| format!("{}={}", o.value, o.label))
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            },
        })
        .collect()
}

impl DraftInputs {
    /// The inputs showing a version's content.
    pub fn from_content(c: &VersionContent, effective_from: &str, token: &str) -> Self {
        let r = &c.record;
        let mut record = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            record.insert(k.to_owned(), v);
        };
        put("name", r.name.clone());
        put("base_code", r.base_code.clone());
        put("implementation_code", r.implementation_code.clone());
        put("service_type", r.service_type.code().to_owned());
        put("level", r.level.code().to_owned());
        let (v, u) = limit_inputs(r.legal_limit);
        put("legal_limit.value", v);
        put("legal_limit.unit", u);
        let (v, u) = limit_inputs(r.promised_limit);
        put("promised_limit.value", v);
        put("promised_limit.unit", u);
        put("case_type", r.case_type.code().to_owned());
        put("onsite_visits", r.onsite_visits.to_string());
        put("online_depth", r.online_depth.code().to_owned());
        put("fee.charged", if r.fee.is_some() { "1" } else { "0" }.to_owned());
        put(
            "fee.amount",
            r.fee.as_ref().map(|f| f.amount.clone()).unwrap_or_default(),
        );
        put("fee.basis", r.fee.as_ref().map(|f| f.basis.clone()).unwrap_or_default());
        put("legal_basis", r.legal_basis.clone());
        put("implementing_body", r.implementing_body.clone());
        put("implementing_body_credit_code", r.implementing_body_credit_code.clone());
        put("department_code", r.department_code.clone());
        put("department_name", r.department_name.clone());
        put("conditions", r.conditions.clone());
        put("process", r.process.clone());
        put("consult_phone", r.consult_phone.clone());
        put("supervise_phone", r.supervise_phone.clone());
        put("address", r.address.clone());
        put("hours", r.hours.clone());
        put("themes", r.themes.join("、"));
        Self {
            record,
            objects: r.objects.iter().map(|o| o.code().to_owned()).collect(),
            channels: r.channels.iter().map(|o| o.code().to_owned()).collect(),
            faqs: r
                .faqs
                .iter()
                .map(|f| FaqInputs {
                    question: f.question.clone(),
                    answer: f.answer.clone(),
                })
                .collect(),
            materials: c
                .materials
                .iter()
                .map(|m| MaterialInputs {
                    name: m.name.clone(),
                    code: m.code.clone().unwrap_or_default(),
                    issuer: m.issuer.clone(),
                    originals: m.originals.to_string(),
                    copies: m.copies.to_string(),
                    form: m.form.code().to_owned(),
                    source: m.source.code().to_owned(),
                    required: m.required,
                    acceptance_standard: m.acceptance_standard.clone(),
                    blank_form: m.blank_form.clone().unwrap_or_default(),
                    sample: m.sample.clone().unwrap_or_default(),
                })
                .collect(),
            form: field_inputs(&c.form),
            effective_from: effective_from.to_owned(),
            token: token.to_owned(),
        }
    }

    /// An empty service to start from: sensible defaults a person then fills in.
    pub fn blank(effective_from: &str) -> Self {
        let mut d = Self::from_content(
            &VersionContent {
                record: ServiceRecord {
                    name: String::new(),
                    base_code: String::new(),
                    implementation_code: String::new(),
                    service_type: ServiceType::Licensing,
                    level: ServiceLevel::Province,
                    objects: [ServiceObject::NaturalPerson].into_iter().collect(),
                    channels: [Channel::Window, Channel::Web].into_iter().collect(),
                    legal_limit: Some(TimeLimit::working_days(20)),
                    promised_limit: Some(TimeLimit::working_days(5)),
                    case_type: CaseType::Promised,
                    onsite_visits: 1,
                    online_depth: OnlineDepth::OnlineAcceptance,
                    fee: None,
                    legal_basis: String::new(),
                    implementing_body: String::new(),
                    implementing_body_credit_code: String::new(),
                    department_code: String::new(),
                    department_name: String::new(),
                    conditions: String::new(),
                    process: String::new(),
                    faqs: Vec::new(),
                    consult_phone: String::new(),
                    supervise_phone: "12345".into(),
                    address: String::new(),
                    hours: "工作日 9:00-12:00，13:30-17:00（法定节假日除外）".into(),
                    themes: Vec::new(),
                },
                materials: Vec::new(),
                form: FormDefinition::default(),
            },
            effective_from,
            "new",
        );
        d.materials.push(MaterialInputs::blank());
        d
    }

    /// Reads the inputs a form sent (`name=value` pairs; a later pair wins). Rows keep the order
    /// of their indices; indices past the group's limit are ignored with an error.
    pub fn from_pairs(pairs: &[(String, String)]) -> (Self, Vec<InputError>) {
        let mut d = Self::default();
        let mut errors = Vec::new();
        let mut faqs: BTreeMap<usize, FaqInputs> = BTreeMap::new();
        let mut materials: BTreeMap<usize, MaterialInputs> = BTreeMap::new();
        let mut form: BTreeMap<usize, FieldInputs> = BTreeMap::new();
        for (name, value) in pairs {
            let value = value.replace("\r\n", "\n");
            match name.as_str() {
                "objects" => {
                    d.objects.insert(value);
                }
                "channels" => {
                    d.channels.insert(value);
                }
                "effective_from" => d.effective_from = value.trim().to_owned(),
                "token" => d.token = value,
                n if RECORD_INPUTS.contains(&n) => {
                    d.record.insert(n.to_owned(), value);
                }
                n => {
                    let Some((group, index, input)) = row_input(n) else {
                        continue; // csrf, op and anything unknown
                    };
                    let (limit, what) = match group {
                        "faqs" => (MAX_FAQS, "常见问题"),
                        "materials" => (MAX_MATERIALS, "申请材料"),
                        _ => (MAX_FORM_FIELDS, "申请表字段"),
                    };
                    if index >= limit {
                        if !errors.iter().any(|e: &InputError| e.input == group) {
                            errors.push(err(group, "too_many_rows", format!("{what}最多 {limit} 项")));
                        }
                        continue;
                    }
                    match group {
                        "faqs" => {
                            let f = faqs.entry(index).or_default();
                            match input {
                                "question" => f.question = value,
                                "answer" => f.answer = value,
                                _ => {}
                            }
                        }
                        "materials" => {
                            let m = materials.entry(index).or_default();
                            match input {
                                "name" => m.name = value,
                                "code" => m.code = value,
                                "issuer" => m.issuer = value,
                                "originals" => m.originals = value,
                                "copies" => m.copies = value,
                                "form" => m.form = value,
                                "source" => m.source = value,
                                "required" => m.required = value == "1" || value == "on",
                                "acceptance_standard" => m.acceptance_standard = value,
                                "blank_form" => m.blank_form = value.trim().to_owned(),
                                "sample" => m.sample = value.trim().to_owned(),
                                "blank_form_remove" if !value.is_empty() => m.blank_form.clear(),
                                "sample_remove" if !value.is_empty() => m.sample.clear(),
                                _ => {}
                            }
                        }
                        _ => {
                            let f = form.entry(index).or_default();
                            match input {
                                "key" => f.key = value.trim().to_owned(),
                                "label" => f.label = value,
                                "kind" => f.kind = value,
                                "required" => f.required = value == "1" || value == "on",
                                "max_len" => f.max_len = value,
                                "pattern" => f.pattern = value,
                                "date_rule" => f.date_rule = value,
                                "options" => f.options = value,
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
        d.faqs = faqs.into_values().collect();
        d.materials = materials.into_values().collect();
        d.form = form.into_values().collect();
        (d, errors)
    }

    fn get(&self, k: &str) -> &str {
        self.record.get(k).map(|v| v.trim()).unwrap_or("")
    }

    /// The content these inputs describe, and every input that cannot be read (a number that is
    /// not one, an unknown code). Unreadable inputs take a neutral value, so that the quality rules
    /// can still check everything else at the same time.
    pub fn to_content(&self) -> (VersionContent, Vec<InputError>) {
        let mut errors = Vec::new();
        let mut code = |input: &str, raw: &str, what: &str| -> Option<String> {
            if raw.is_empty() {
                errors.push(err(input, "required", format!("请选择{what}")));
                None
            } else {
                Some(raw.to_owned())
            }
        };
        let service_type =
            code("service_type", self.get("service_type"), "事项类型").and_then(|c| ServiceType::parse(&c).ok());
        let level = code("level", self.get("level"), "行使层级").and_then(|c| ServiceLevel::parse(&c).ok());
        let case_type = code("case_type", self.get("case_type"), "办件类型").and_then(|c| CaseType::parse(&c).ok());
        let online_depth =
            code("online_depth", self.get("online_depth"), "网上办理深度").and_then(|c| OnlineDepth::parse(&c).ok());
        for (input, ok) in [
            ("service_type", service_type.is_some()),
            ("level", level.is_some()),
            ("case_type", case_type.is_some()),
            ("online_depth", online_depth.is_some()),
        ] {
            if !ok && !errors.iter().any(|e| e.input == input) {
                errors.push(err(input, "code_invalid", "请从列表中选择"));
            }
        }
        let mut objects = BTreeSet::new();
        for o in &self.objects {
            match ServiceObject::parse(o) {
                Ok(v) => {
                    objects.insert(v);
                }
                Err(_) => errors.push(err("objects", "code_invalid", "请从列表中选择服务对象")),
            }
        }
        let mut channels = BTreeSet::new();
        for c in &self.channels {
            match Channel::parse(c) {
                Ok(v) => {
                    channels.insert(v);
                }
                Err(_) => errors.push(err("channels", "code_invalid", "请从列表中选择办理形式")),
            }
        }
        let legal_limit = self.limit("legal_limit", &mut errors);
        let promised_limit = self.limit("promised_limit", &mut errors);
        let onsite_visits = match self.get("onsite_visits").parse::<u8>() {
            Ok(n) => n,
            Err(_) => {
                errors.push(err("onsite_visits", "number_invalid", "请填写 0 到 255 之间的整数"));
                0
            }
        };
        let fee = (self.get("fee.charged") == "1").then(|| Fee {
            amount: self.get("fee.amount").to_owned(),
            basis: self.get("fee.basis").to_owned(),
        });
        let themes: Vec<String> = self
            .get("themes")
            .split(['、', ',', '，', ';', '；', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let record = ServiceRecord {
            name: self.get("name").to_owned(),
            base_code: self.get("base_code").to_owned(),
            implementation_code: self.get("implementation_code").to_owned(),
            service_type: service_type.unwrap_or(ServiceType::Licensing),
            level: level.unwrap_or(ServiceLevel::Province),
            objects,
            channels,
            legal_limit,
            promised_limit,
            case_type: case_type.unwrap_or(CaseType::Promised),
            onsite_visits,
            online_depth: online_depth.unwrap_or(OnlineDepth::Information),
            fee,
            legal_basis: self.get("legal_basis").to_owned(),
            implementing_body: self.get("implementing_body").to_owned(),
            implementing_body_credit_code: self.get("implementing_body_credit_code").to_owned(),
            department_code: self.get("department_code").to_owned(),
            department_name: self.get("department_name").to_owned(),
            conditions: self.get("conditions").to_owned(),
            process: self.get("process").to_owned(),
            faqs: self
                .faqs
                .iter()
                .filter(|f| !(f.question.trim().is_empty() && f.answer.trim().is_empty()))
                .map(|f| Faq {
                    question: f.question.trim().to_owned(),
                    answer: f.answer.trim().to_owned(),
                })
                .collect(),
            consult_phone: self.get("consult_phone").to_owned(),
            supervise_phone: self.get("supervise_phone").to_owned(),
            address: self.get("address").to_owned(),
            hours: self.get("hours").to_owned(),
            themes,
        };
        let materials = self
            .materials
            .iter()
            .enumerate()
            .map(|(i, m)| m.to_record(i, &mut errors))
            .collect();
        let fields = self
            .form
            .iter()
            .enumerate()
            .map(|(i, f)| f.to_field(i, &mut errors))
            .collect();
        (
            VersionContent {
                record,
                materials,
                form: FormDefinition { fields },
            },
            errors,
        )
    }

    fn limit(&self, prefix: &str, errors: &mut Vec<InputError>) -> Option<TimeLimit> {
        let value = self.get(&format!("{prefix}.value"));
        if value.is_empty() {
            return None;
        }
        let unit = TimeUnit::parse(self.get(&format!("{prefix}.unit"))).unwrap_or(TimeUnit::WorkingDays);
        match value.parse::<u32>() {
            Ok(v) if v <= 3650 => Some(TimeLimit { value: v, unit }),
            _ => {
                errors.push(err(
                    format!("{prefix}.value"),
                    "number_invalid",
                    "请填写 0 到 3650 之间的整数天数",
                ));
                None
            }
        }
    }

    /// Applies an editing operation that changes the form's shape without saving: add or remove a
    /// row, move it up, or replace the application form with a preset. Returns whether `op` was one.
    pub fn apply_op(&mut self, op: &str) -> bool {
        let (what, index) = match op.split_once('.') {
            Some((w, i)) => (w, i.parse::<usize>().ok()),
            None => (op, None),
        };
        match (what, index) {
            ("add_faq", _) if self.faqs.len() < MAX_FAQS => self.faqs.push(FaqInputs::default()),
            ("add_material", _) if self.materials.len() < MAX_MATERIALS => self.materials.push(MaterialInputs::blank()),
            ("add_field", _) if self.form.len() < MAX_FORM_FIELDS => self.form.push(FieldInputs {
                kind: "text".into(),
                ..Default::default()
            }),
            ("remove_faq", Some(i)) if i < self.faqs.len() => {
                self.faqs.remove(i);
            }
            ("remove_material", Some(i)) if i < self.materials.len() => {
                self.materials.remove(i);
            }
            ("remove_field", Some(i)) if i < self.form.len() => {
                self.form.remove(i);
            }
            ("up_material", Some(i)) if i > 0 && i < self.materials.len() => self.materials.swap(i - 1, i),
            ("up_field", Some(i)) if i > 0 && i < self.form.len() => self.form.swap(i - 1, i),
            ("up_faq", Some(i)) if i > 0 && i < self.faqs.len() => self.faqs.swap(i - 1, i),
            ("preset", _) => {
                let name = op.strip_prefix("preset.").unwrap_or("");
                let Some(preset) = super::forms::preset(name) else {
                    return false;
                };
                self.form = field_inputs(&preset);
            }
            // A known operation that cannot apply (a full group, a stale index) changes nothing.
            ("add_faq" | "add_material" | "add_field", _) => {}
            ("remove_faq" | "remove_material" | "remove_field" | "up_material" | "up_field" | "up_faq", _) => {}
            _ => return false,
        }
        true
    }
}

impl MaterialInputs {
    pub fn blank() -> Self {
        Self {
            originals: "1".into(),
            copies: "0".into(),
            form: MaterialForm::Paper.code().into(),
            source: MaterialSource::Applicant.code().into(),
            required: true,
            ..Default::default()
        }
    }

    fn to_record(&self, i: usize, errors: &mut Vec<InputError>) -> MaterialRecord {
        let at = |input: &str| format!("materials[{i}].{input}");
        let mut count = |input: &str, raw: &str| match raw.trim().parse::<u8>() {
            Ok(n) => n,
            Err(_) => {
                errors.push(err(at(input), "number_invalid", "请填写 0 到 255 之间的整数"));
                0
            }
        };
        let originals = count("originals", &self.originals);
        let copies = count("copies", &self.copies);
        let form = MaterialForm::parse(&self.form).unwrap_or_else(|_| {
            errors.push(err(at("form"), "code_invalid", "请选择材料形式"));
            MaterialForm::Paper
        });
        let source = MaterialSource::parse(&self.source).unwrap_or_else(|_| {
            errors.push(err(at("source"), "code_invalid", "请选择来源渠道"));
            MaterialSource::Applicant
        });
        let file = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        MaterialRecord {
            code: file(&self.code),
            name: self.name.trim().to_owned(),
            issuer: self.issuer.trim().to_owned(),
            originals,
            copies,
            form,
            source,
            required: self.required,
            acceptance_standard: self.acceptance_standard.trim().to_owned(),
            blank_form: file(&self.blank_form),
            sample: file(&self.sample),
        }
    }
}

/// Parses select options, one per line: `value=label` (or just `label`, which is its own value).
pub fn parse_options(text: &str) -> Vec<SelectOption> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(['=', '＝']) {
            Some((v, label)) => SelectOption {
                value: v.trim().to_owned(),
                label: label.trim().to_owned(),
            },
            None => SelectOption {
                value: l.to_owned(),
                label: l.to_owned(),
            },
        })
        .collect()
}

impl FieldInputs {
    fn to_field(&self, i: usize, errors: &mut Vec<InputError>) -> FormField {
        let at = |input: &str| format!("form[{i}].{input}");
        let kind = match self.kind.as_str() {
            "text" => FieldKind::Text,
            "text_area" => FieldKind::TextArea,
            "number" => FieldKind::Number,
            "date" => FieldKind::Date,
            "select" => FieldKind::Select(parse_options(&self.options)),
            "id_number" => FieldKind::IdNumber,
            "phone" => FieldKind::Phone,
            "credit_code" => FieldKind::CreditCode,
            "email" => FieldKind::Email,
            "checkbox" => FieldKind::Checkbox,
            _ => {
                errors.push(err(at("kind"), "code_invalid", "请选择字段类型"));
                FieldKind::Text
            }
        };
        let max_len = match self.max_len.trim() {
            "" => None,
            n => match n.parse::<usize>() {
                Ok(n) if n <= 100_000 => Some(n),
                _ => {
                    errors.push(err(at("max_len"), "number_invalid", "请填写正整数"));
                    None
                }
            },
        };
        let date_rule = match self.date_rule.as_str() {
            "not_future" => Some(DateRule::NotFuture),
            "not_past" => Some(DateRule::NotPast),
            "" => None,
            _ => {
                errors.push(err(at("date_rule"), "code_invalid", "请从列表中选择"));
                None
            }
        };
        FormField {
            key: self.key.trim().to_owned(),
            label: self.label.trim().to_owned(),
            kind,
            required: self.required,
            max_len,
            pattern: (!self.pattern.trim().is_empty()).then(|| self.pattern.trim().to_owned()),
            date_rule,
        }
    }
}

/// `materials[3].issuer` → (`materials`, 3, `issuer`).
fn row_input(name: &str) -> Option<(&'static str, usize, &str)> {
    let (group, rest) = name.split_once('[')?;
    let group = ["faqs", "materials", "form"].into_iter().find(|g| *g == group)?;
    let (index, input) = rest.split_once("].")?;
    Some((group, index.parse().ok()?, input))
}

/// The input a quality issue belongs to, from its field path: `promised_limit` → its number,
/// `themes[2]` → the themes input, `form.<key>` → that row's key input, and so on.
pub fn input_of_issue(field: &str, code: &str, d: &DraftInputs) -> String {
    if let Some(rest) = field.strip_prefix("form.") {
        // Form definition errors name a row by its key, or `fields[i]` when the key is at fault.
        // A duplicate is reported at its second occurrence, so it is found from the end.
        let row = match rest.strip_prefix("fields[").and_then(|r| r.strip_suffix(']')) {
            Some(i) => i.parse::<usize>().ok(),
            None if code == "field_key_duplicate" => d.form.iter().rposition(|f| f.key.trim() == rest),
            None => d.form.iter().position(|f| f.key.trim() == rest),
        };
        let input = match code {
            "field_label_required" => "label",
            "select_options_required" | "select_option_invalid" | "select_option_duplicate" => "options",
            "max_len_invalid" => "max_len",
            "pattern_invalid" => "pattern",
            "date_rule_not_date" => "date_rule",
            _ => "key",
        };
        return match row {
            Some(i) => format!("form[{i}].{input}"),
            None => "form".into(),
        };
    }
    if let Some(rest) = field.strip_prefix("materials[") {
        // Material rules name `originals` for "no paper count"; both counts sit together.
        return format!("materials[{rest}");
    }
    match field {
        "promised_limit" | "legal_limit" => format!("{field}.value"),
        "fee" => "fee.charged".into(),
        f if f.starts_with("themes[") => "themes".into(),
        f => f.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn demo_content() -> VersionContent {
        let mut d = DraftInputs::blank("2026-03-18");
        d.record.insert("name".into(), "测试事项".into());
        let (c, _) = d.to_content();
        VersionContent {
            form: super::super::forms::preset("birth").unwrap(),
            ..c
        }
    }

    #[test]
    fn content_survives_the_form_both_ways() {
        let mut c = demo_content();
        c.record.fee = Some(Fee {
            amount: "10 元".into(),
            basis: "某收费文件".into(),
        });
        c.record.faqs = vec![Faq {
            question: "问".into(),
            answer: "答".into(),
        }];
        c.record.themes = vec!["出生".into(), "户籍".into()];
        c.materials[0].blank_form = Some("a".repeat(64));
        c.materials[0].code = Some("sfz".into());
        let d = DraftInputs::from_content(&c, "2026-03-18", "new");
        // As the browser sends it: every input a pair, check boxes only when ticked.
        let mut pairs = vec![("csrf".to_owned(), "x".to_owned()), ("token".into(), "new".into())];
        for (k, v) in &d.record {
            pairs.push((k.clone(), v.clone()));
        }
        for o in &d.objects {
            pairs.push(("objects".into(), o.clone()));
        }
        for o in &d.channels {
            pairs.push(("channels".into(), o.clone()));
        }
        for (i, f) in d.faqs.iter().enumerate() {
            pairs.push((format!("faqs[{i}].question"), f.question.clone()));
            pairs.push((format!("faqs[{i}].answer"), f.answer.clone()));
        }
        for (i, m) in d.materials.iter().enumerate() {
            for (k, v) in [
                ("name", &m.name),
                ("code", &m.code),
                ("issuer", &m.issuer),
                ("originals", &m.originals),
                ("copies", &m.copies),
                ("form", &m.form),
                ("source", &m.source),
                ("acceptance_standard", &m.acceptance_standard),
                ("blank_form", &m.blank_form),
                ("sample", &m.sample),
            ] {
                pairs.push((format!("materials[{i}].{k}"), v.clone()));
            }
            if m.required {
                pairs.push((format!("materials[{i}].required"), "1".into()));
            }
        }
        for (i, f) in d.form.iter().enumerate() {
            for (k, v) in [
                ("key", &f.key),
                ("label", &f.label),
                ("kind", &f.kind),
                ("max_len", &f.max_len),
                ("pattern", &f.pattern),
                ("date_rule", &f.date_rule),
                ("options", &f.options),
            ] {
                pairs.push((format!("form[{i}].{k}"), v.clone()));
            }
            if f.required {
                pairs.push((format!("form[{i}].required"), "1".into()));
            }
        }
        pairs.push(("effective_from".into(), "2026-03-18".into()));
        let (back, errors) = DraftInputs::from_pairs(&pairs);
        assert_eq!(errors, vec![]);
        assert_eq!(back, d);
        let (again, errors) = back.to_content();
        assert_eq!(errors, vec![]);
        assert_eq!(again, c);
    }

    #[test]
    fn unreadable_inputs_are_named() {
        let mut d = DraftInputs::blank("2026-03-18");
        d.record.insert("onsite_visits".into(), "两次".into());
        d.record.insert("promised_limit.value".into(), "-1".into());
        d.record.insert("service_type".into(), "99".into());
        d.materials[0].copies = "x".into();
        d.objects.insert("7".into());
        let (_, errors) = d.to_content();
        let inputs: Vec<&str> = errors.iter().map(|e| e.input.as_str()).collect();
        assert_eq!(
            inputs,
            vec![
                "service_type",
                "objects",
                "promised_limit.value",
                "onsite_visits",
                "materials[0].copies"
            ]
        );
    }

    #[test]
    fn rows_are_added_removed_and_moved_without_saving() {
        let mut d = DraftInputs::blank("2026-03-18");
        assert!(d.apply_op("add_material"));
        d.materials[1].name = "第二份".into();
        assert!(d.apply_op("up_material.1"));
        assert_eq!(d.materials[0].name, "第二份");
        assert!(d.apply_op("remove_material.1"));
        assert_eq!(d.materials.len(), 1);
        assert!(d.apply_op("remove_material.9")); // stale index: nothing happens
        assert!(d.apply_op("preset.birth"));
        assert!(
            d.form
                .iter()
                .any(|f| f.key == "child_birth_date" && f.date_rule == "not_future")
        );
        assert!(!d.apply_op("preset.nope"));
        assert!(!d.apply_op("save"));
        let many: Vec<(String, String)> = (0..=MAX_FAQS)
            .map(|i| (format!("faqs[{i}].question"), "q".into()))
            .collect();
        let (d, errors) = DraftInputs::from_pairs(&many);
        assert_eq!(d.faqs.len(), MAX_FAQS);
        assert_eq!(errors[0].code, "too_many_rows");
    }

    #[test]
    fn issues_find_their_inputs() {
        let mut d = DraftInputs::blank("2026-03-18");
        d.form.push(FieldInputs {
            key: "child_name".into(),
            ..Default::default()
        });
        assert_eq!(
            input_of_issue("promised_limit", "promised_exceeds_legal", &d),
            "promised_limit.value"
        );
        assert_eq!(input_of_issue("fee.basis", "fee_basis_missing", &d), "fee.basis");
        assert_eq!(
            input_of_issue("materials[0].issuer", "required", &d),
            "materials[0].issuer"
        );
        assert_eq!(input_of_issue("themes[1]", "required", &d), "themes");
        assert_eq!(
            input_of_issue("form.child_name", "field_label_required", &d),
            "form[0].label"
        );
        assert_eq!(input_of_issue("form.fields[0]", "field_key_invalid", &d), "form[0].key");
        assert_eq!(
            parse_options("m=男\n\n f ＝ 女 \n其他"),
            vec![
                SelectOption {
                    value: "m".into(),
                    label: "男".into()
                },
                SelectOption {
                    value: "f".into(),
                    label: "女".into()
                },
                SelectOption {
                    value: "其他".into(),
                    label: "其他".into()
                },
            ]
        );
    }
}
