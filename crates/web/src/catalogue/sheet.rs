//! Implementation lists as workbooks, in the shape halls keep them: sheet "事项" one row per service,
//! sheet "材料" one row per material. Export writes what a region's guides show; import reads the same
//! shape back, reports every problem by sheet, row and column, and writes nothing while any remains.
//!
//! What an import means depends on who imports:
//! - the keeper of the base catalogue (the province) creates services and publishes a new version of
//!   each service whose row or materials changed;
//! - any other region keeps its implementation list: a row switches the service on, a value that
//!   differs from the one it inherits becomes a local override, and a value equal to the current one
//!   changes nothing (so an export imports back without any change). Fields that only the base
//!   catalogue may change (name, type, legal basis, materials…) are errors if they differ.
use onestop_domain::catalogue::{
    CaseType, Channel, Faq, Fee, ImplementationOverrides, Inheritable, MaterialForm, MaterialRecord, MaterialSource,
    OnlineDepth, ServiceLevel, ServiceObject, ServiceRecord, ServiceType, TimeLimit, TimeUnit, validate_material,
    validate_service,
};
use onestop_store::catalogue::Effective;
use onestop_workbook::Sheet;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

pub const SERVICE_SHEET: &str = "事项";
pub const MATERIAL_SHEET: &str = "材料";

/// Columns of the 事项 sheet, in export order, and whether a cell must be filled.
pub const SERVICE_COLUMNS: &[(&str, bool)] = &[
    ("事项名称", true),
    ("基本编码", true),
    ("实施编码", false),
    ("事项类型", true),
    ("行使层级", true),
    ("服务对象", true),
    ("办理形式", true),
    ("法定时限", false),
    ("法定时限单位", false),
    ("承诺时限", true),
    ("承诺时限单位", false),
    ("办件类型", true),
    ("到办事现场次数", true),
    ("网上办理深度", true),
    ("是否收费", true),
    ("收费标准", false),
    ("收费依据", false),
    ("设定依据", true),
    ("实施主体", true),
    ("实施主体统一社会信用代码", true),
    ("办理部门", true),
    ("受理条件", true),
    ("办理流程", true),
    ("咨询电话", true),
    ("监督电话", true),
    ("办理地点", true),
    ("办理时间", true),
    ("主题", false),
    ("常见问题", false),
];

/// Columns of the 材料 sheet.
pub const MATERIAL_COLUMNS: &[(&str, bool)] = &[
    ("基本编码", true),
    ("材料名称", true),
    ("材料编码", false),
    ("出具单位", false),
    ("原件数", true),
    ("复印件数", true),
    ("材料形式", true),
    ("来源渠道", true),
    ("是否必需", true),
    ("受理标准", true),
    ("空白表格", false),
    ("示例样表", false),
];

/// One problem of an import, where a person finds it in Excel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportIssue {
    pub sheet: String,
    /// Row number as Excel shows it (the header is row 1).
    pub row: usize,
    /// Column letter (e.g. `J`), empty when the problem is the whole row or sheet.
    pub column: String,
    /// Column header, e.g. 承诺时限.
    pub header: String,
    pub code: String,
    pub message: String,
}

fn column_letter(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// The letter of a column of an uploaded sheet, by its header (empty when the sheet lacks it).
pub fn column_of(sheets: &[Sheet], sheet: &str, header: &str) -> String {
    sheets
        .iter()
        .find(|s| s.name == sheet)
        .and_then(|s| s.rows.first())
        .and_then(|head| head.iter().position(|h| h.trim() == header))
        .map(column_letter)
        .unwrap_or_default()
}

const LIST_SEP: [char; 6] = ['、', ',', '，', ';', '；', '\n'];

fn join<T: Copy>(items: impl IntoIterator<Item = T>, label: fn(T) -> &'static str) -> String {
    items.into_iter().map(label).collect::<Vec<_>>().join("、")
}

fn limit_cells(l: Option<TimeLimit>) -> (String, String) {
    match l {
        Some(l) => (l.value.to_string(), l.unit.label().to_owned()),
        None => (String::new(), String::new()),
    }
}

fn faqs_text(faqs: &[Faq]) -> String {
    faqs.iter()
        .map(|f| format!("问：{}\n答：{}", f.question, f.answer))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The 事项 row of a record.
pub fn service_row(r: &ServiceRecord) -> Vec<String> {
    let (legal, legal_unit) = limit_cells(r.legal_limit);
    let (promised, promised_unit) = limit_cells(r.promised_limit);
    vec![
        r.name.clone(),
        r.base_code.clone(),
        r.implementation_code.clone(),
        r.service_type.label().to_owned(),
        r.level.label().to_owned(),
        join(r.objects.iter().copied(), ServiceObject::label),
        join(r.channels.iter().copied(), Channel::label),
        legal,
        legal_unit,
        promised,
        promised_unit,
        r.case_type.label().to_owned(),
        r.onsite_visits.to_string(),
        r.online_depth.label().to_owned(),
        if r.fee.is_some() { "是" } else { "否" }.to_owned(),
        r.fee.as_ref().map(|f| f.amount.clone()).unwrap_or_default(),
        r.fee.as_ref().map(|f| f.basis.clone()).unwrap_or_default(),
        r.legal_basis.clone(),
        r.implementing_body.clone(),
        r.implementing_body_credit_code.clone(),
        r.department_name.clone(),
        r.conditions.clone(),
        r.process.clone(),
        r.consult_phone.clone(),
        r.supervise_phone.clone(),
        r.address.clone(),
        r.hours.clone(),
        r.themes.join("、"),
        faqs_text(&r.faqs),
    ]
}

/// The 材料 row of a material.
pub fn material_row(base_code: &str, m: &MaterialRecord) -> Vec<String> {
    vec![
        base_code.to_owned(),
        m.name.clone(),
        m.code.clone().unwrap_or_default(),
        m.issuer.clone(),
        m.originals.to_string(),
        m.copies.to_string(),
        m.form.label().to_owned(),
        m.source.label().to_owned(),
        if m.required { "是" } else { "否" }.to_owned(),
        m.acceptance_standard.clone(),
        m.blank_form.clone().unwrap_or_default(),
        m.sample.clone().unwrap_or_default(),
    ]
}

/// The two sheets of an implementation list.
pub fn export_sheets(guides: &[Effective]) -> Vec<Sheet> {
    let mut services = vec![SERVICE_COLUMNS.iter().map(|c| c.0.to_owned()).collect::<Vec<_>>()];
    let mut materials = vec![MATERIAL_COLUMNS.iter().map(|c| c.0.to_owned()).collect::<Vec<_>>()];
    for g in guides {
        services.push(service_row(&g.record));
        for m in &g.materials {
            materials.push(material_row(&g.record.base_code, m));
        }
    }
    vec![
        Sheet {
            name: SERVICE_SHEET.into(),
            rows: services,
        },
        Sheet {
            name: MATERIAL_SHEET.into(),
            rows: materials,
        },
    ]
}

// ---- parsing ------------------------------------------------------------------------------------

/// A parsed 事项 row.
#[derive(Debug, Clone)]
pub struct ParsedService {
    /// Excel row number.
    pub row: usize,
    pub record: ServiceRecord,
    /// Whether the row had any cell error (then it is not compared or planned).
    pub broken: bool,
}

/// A parsed 材料 row.
#[derive(Debug, Clone)]
pub struct ParsedMaterial {
    pub row: usize,
    pub base_code: String,
    pub material: MaterialRecord,
}

/// Cell access for one sheet with issue collection.
struct Reader<'a> {
    sheet: &'a str,
    columns: &'static [(&'static str, bool)],
    index: HashMap<&'static str, usize>,
    issues: &'a mut Vec<ImportIssue>,
}

impl Reader<'_> {
    fn issue(&mut self, row: usize, header: &str, code: &str, message: impl Into<String>) {
        let column = self
            .index
            .iter()
            .find(|(h, _)| **h == header)
            .map(|(_, i)| column_letter(*i))
            .unwrap_or_default();
        self.issues.push(ImportIssue {
            sheet: self.sheet.to_owned(),
            row,
            column,
            header: header.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    fn cell<'r>(&self, cells: &'r [String], header: &str) -> &'r str {
        self.index
            .iter()
            .find(|(h, _)| **h == header)
            .and_then(|(_, i)| cells.get(*i))
            .map(|s| s.trim())
            .unwrap_or("")
    }

    /// A cell's text; a blank required cell is reported.
    fn text(&mut self, cells: &[String], row: usize, header: &'static str, bad: &mut bool) -> String {
        let v = self.cell(cells, header).to_owned();
        let required = self.columns.iter().any(|(h, r)| *h == header && *r);
        if required && v.is_empty() {
            self.issue(row, header, "cell_required", format!("“{header}”不能为空"));
            *bad = true;
        }
        v
    }

    fn parse_with<T>(
        &mut self,
        cells: &[String],
        row: usize,
        header: &'static str,
        bad: &mut bool,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<T> {
        let v = self.text(cells, row, header, bad);
        if v.is_empty() {
            return None;
        }
        let parsed = parse(&v);
        if parsed.is_none() {
            self.issue(
                row,
                header,
                "cell_invalid",
                format!("“{header}”的值“{v}”无效，应为{expected}"),
            );
            *bad = true;
        }
        parsed
    }
}

fn code_or_label<T: Copy>(all: &[T], code: fn(T) -> &'static str, label: fn(T) -> &'static str, s: &str) -> Option<T> {
    let s = s.trim();
    all.iter().copied().find(|v| code(*v) == s || label(*v) == s)
}

fn depth_of(s: &str) -> Option<OnlineDepth> {
    let s = s.trim();
    code_or_label(OnlineDepth::ALL, OnlineDepth::code, OnlineDepth::label, s).or_else(|| {
        let head = s.trim_end_matches('级');
        OnlineDepth::ALL.iter().copied().find(|d| {
            d.roman() == head
                || matches!(
                    (head, d),
                    ("I", OnlineDepth::Information)
                        | ("II", OnlineDepth::Preparation)
                        | ("III", OnlineDepth::OnlineAcceptance)
                        | ("IV", OnlineDepth::FullyOnline)
                )
        })
    })
}

fn yes_no(s: &str) -> Option<bool> {
    match s.trim() {
        "是" | "Y" | "y" | "1" | "TRUE" | "true" => Some(true),
        "否" | "N" | "n" | "0" | "FALSE" | "false" => Some(false),
        _ => None,
    }
}

fn list<T: Copy + Ord>(s: &str, one: impl Fn(&str) -> Option<T>) -> Option<BTreeSet<T>> {
    s.split(LIST_SEP)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(one)
        .collect()
}

fn parse_faqs(s: &str) -> Option<Vec<Faq>> {
    let mut out = Vec::new();
    for block in s.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let rest = block.strip_prefix("问：")?;
        let (q, a) = rest.split_once("\n答：")?;
        out.push(Faq {
            question: q.trim().to_owned(),
            answer: a.trim().to_owned(),
        });
    }
    Some(out)
}

/// Checks a header row; returns column positions, reporting missing and unknown columns.
fn header_index(
    sheet: &Sheet,
    columns: &'static [(&'static str, bool)],
    issues: &mut Vec<ImportIssue>,
) -> Option<HashMap<&'static str, usize>> {
    let Some(head) = sheet.rows.first() else {
        issues.push(ImportIssue {
            sheet: sheet.name.clone(),
            row: 1,
            column: String::new(),
            header: String::new(),
            code: "sheet_empty".into(),
            message: format!("工作表“{}”是空的，第 1 行应为列名", sheet.name),
        });
        return None;
    };
    let mut index = HashMap::new();
    let mut ok = true;
    for (i, h) in head.iter().enumerate() {
        let h = h.trim();
        if h.is_empty() {
            continue;
        }
        match columns.iter().find(|(c, _)| *c == h) {
            Some((c, _)) if index.contains_key(c) => {
                issues.push(ImportIssue {
                    sheet: sheet.name.clone(),
                    row: 1,
                    column: column_letter(i),
                    header: h.to_owned(),
                    code: "column_duplicate".into(),
                    message: format!("列“{h}”重复"),
                });
                ok = false;
            }
            Some((c, _)) => {
                index.insert(*c, i);
            }
            None => {
                issues.push(ImportIssue {
                    sheet: sheet.name.clone(),
                    row: 1,
                    column: column_letter(i),
                    header: h.to_owned(),
                    code: "column_unknown".into(),
                    message: format!("未知的列“{h}”"),
                });
                ok = false;
            }
        }
    }
    for (c, _) in columns {
        if !index.contains_key(c) {
            issues.push(ImportIssue {
                sheet: sheet.name.clone(),
                row: 1,
                column: String::new(),
                header: (*c).to_owned(),
                code: "column_missing".into(),
                message: format!("缺少列“{c}”"),
            });
            ok = false;
        }
    }
    ok.then_some(index)
}

/// Maps a quality issue's field to the column it belongs to.
fn service_header(field: &str) -> &'static str {
    let root = field.split(['.', '[']).next().unwrap_or(field);
    match (root, field) {
        (_, "fee.basis") => "收费依据",
        (_, "fee.amount") => "收费标准",
        ("name", _) => "事项名称",
        ("base_code", _) => "基本编码",
        ("implementation_code", _) => "实施编码",
        ("service_type", _) => "事项类型",
        ("level", _) => "行使层级",
        ("objects", _) => "服务对象",
        ("channels", _) => "办理形式",
        ("legal_limit", _) => "法定时限",
        ("promised_limit", _) => "承诺时限",
        ("case_type", _) => "办件类型",
        ("onsite_visits", _) => "到办事现场次数",
        ("online_depth", _) => "网上办理深度",
        ("fee", _) => "是否收费",
        ("legal_basis", _) => "设定依据",
        ("implementing_body", _) => "实施主体",
        ("implementing_body_credit_code", _) => "实施主体统一社会信用代码",
        ("department_name" | "department_code", _) => "办理部门",
        ("conditions", _) => "受理条件",
        ("process", _) => "办理流程",
        ("consult_phone", _) => "咨询电话",
        ("supervise_phone", _) => "监督电话",
        ("address", _) => "办理地点",
        ("hours", _) => "办理时间",
        ("themes", _) => "主题",
        ("faqs", _) => "常见问题",
        _ => "",
    }
}

fn material_header(field: &str) -> &'static str {
    match field {
        "code" => "材料编码",
        "name" => "材料名称",
        "issuer" => "出具单位",
        "originals" => "原件数",
        "copies" => "复印件数",
        "form" => "材料形式",
        "source" => "来源渠道",
        "required" => "是否必需",
        "acceptance_standard" => "受理标准",
        "blank_form" => "空白表格",
        "sample" => "示例样表",
        _ => "",
    }
}

/// Parses both sheets, checking columns, cells, duplicate codes and the quality rules.
pub fn parse(sheets: &[Sheet], issues: &mut Vec<ImportIssue>) -> (Vec<ParsedService>, Vec<ParsedMaterial>) {
    let mut services = Vec::new();
    let mut materials = Vec::new();
    let service_sheet = sheets.iter().find(|s| s.name == SERVICE_SHEET);
    let material_sheet = sheets.iter().find(|s| s.name == MATERIAL_SHEET);
    if let Some(sheet) = service_sheet
        && let Some(index) = header_index(sheet, SERVICE_COLUMNS, issues)
    {
        let mut r = Reader {
            sheet: SERVICE_SHEET,
            columns: SERVICE_COLUMNS,
            index,
            issues,
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, cells) in sheet.rows.iter().enumerate().skip(1) {
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let row = i + 1;
            let mut bad = false;
            let record = service_record(&mut r, cells, row, &mut bad);
            if !record.base_code.is_empty() {
                if let Some(first) = seen.get(&record.base_code) {
                    r.issue(
                        row,
                        "基本编码",
                        "base_code_duplicate",
                        format!("基本编码 {} 与第 {first} 行重复", record.base_code),
                    );
                    bad = true;
                } else {
                    seen.insert(record.base_code.clone(), row);
                }
            }
            if !bad {
                for q in validate_service(&record) {
                    if q.severity == onestop_domain::catalogue::Severity::Error {
                        r.issue(row, service_header(&q.field), q.code, q.message);
                        bad = true;
                    }
                }
            }
            services.push(ParsedService {
                row,
                record,
                broken: bad,
            });
        }
    }
    if let Some(sheet) = material_sheet
        && let Some(index) = header_index(sheet, MATERIAL_COLUMNS, issues)
    {
        let mut r = Reader {
            sheet: MATERIAL_SHEET,
            columns: MATERIAL_COLUMNS,
            index,
            issues,
        };
        let codes: BTreeSet<&str> = services.iter().map(|s| s.record.base_code.as_str()).collect();
        for (i, cells) in sheet.rows.iter().enumerate().skip(1) {
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let row = i + 1;
            let mut bad = false;
            let base_code = r.text(cells, row, "基本编码", &mut bad);
            if !base_code.is_empty() && !codes.contains(base_code.as_str()) {
                r.issue(
                    row,
                    "基本编码",
                    "material_service_unknown",
                    format!("“事项”表中没有基本编码为 {base_code} 的事项"),
                );
                bad = true;
            }
            let material = material_record(&mut r, cells, row, &mut bad);
            if !bad {
                for q in validate_material(&material) {
                    if q.severity == onestop_domain::catalogue::Severity::Error {
                        r.issue(row, material_header(&q.field), q.code, q.message);
                    }
                }
            }
            materials.push(ParsedMaterial {
                row,
                base_code,
                material,
            });
        }
    }
    (services, materials)
}

fn service_record(r: &mut Reader<'_>, cells: &[String], row: usize, bad: &mut bool) -> ServiceRecord {
    let name = r.text(cells, row, "事项名称", bad);
    let base_code = r.text(cells, row, "基本编码", bad);
    let implementation_code = r.text(cells, row, "实施编码", bad);
    let service_type = r.parse_with(
        cells,
        row,
        "事项类型",
        bad,
        |s| code_or_label(ServiceType::ALL, ServiceType::code, ServiceType::label, s),
        "事项类型代码或名称（如 01 或 行政许可）",
    );
    let level = r.parse_with(
        cells,
        row,
        "行使层级",
        bad,
        |s| code_or_label(ServiceLevel::ALL, ServiceLevel::code, ServiceLevel::label, s),
        "行使层级（如 市级）",
    );
    let objects = r
        .parse_with(
            cells,
            row,
            "服务对象",
            bad,
            |s| {
                list(s, |p| {
                    code_or_label(ServiceObject::ALL, ServiceObject::code, ServiceObject::label, p)
                })
            },
            "服务对象（如 自然人、企业法人，用顿号分隔）",
        )
        .unwrap_or_default();
    let channels = r
        .parse_with(
            cells,
            row,
            "办理形式",
            bad,
            |s| list(s, |p| code_or_label(Channel::ALL, Channel::code, Channel::label, p)),
            "办理形式（如 窗口办理、网上办理（电脑端））",
        )
        .unwrap_or_default();
    let unit = |s: &str| code_or_label(TimeUnit::ALL, TimeUnit::code, TimeUnit::label, s);
    let legal = r.parse_with(cells, row, "法定时限", bad, |s| s.parse::<u32>().ok(), "非负整数");
    let legal_unit = r.parse_with(cells, row, "法定时限单位", bad, unit, "工作日 或 自然日");
    let promised = r.parse_with(cells, row, "承诺时限", bad, |s| s.parse::<u32>().ok(), "非负整数");
    let promised_unit = r.parse_with(cells, row, "承诺时限单位", bad, unit, "工作日 或 自然日");
    let case_type = r.parse_with(
        cells,
        row,
        "办件类型",
        bad,
        |s| code_or_label(CaseType::ALL, CaseType::code, CaseType::label, s),
        "即办件 或 承诺件",
    );
    let onsite_visits = r
        .parse_with(
            cells,
            row,
            "到办事现场次数",
            bad,
            |s| s.parse::<u8>().ok(),
            "0 到 255 的整数",
        )
        .unwrap_or(0);
    let online_depth = r.parse_with(cells, row, "网上办理深度", bad, depth_of, "Ⅰ级 到 Ⅳ级");
    let charged = r.parse_with(cells, row, "是否收费", bad, yes_no, "是 或 否");
    let amount = r.text(cells, row, "收费标准", bad);
    let basis = r.text(cells, row, "收费依据", bad);
    let fee = charged.unwrap_or(false).then_some(Fee { amount, basis });
    let faqs_raw = r.text(cells, row, "常见问题", bad);
    let faqs = if faqs_raw.is_empty() {
        Vec::new()
    } else {
        parse_faqs(&faqs_raw).unwrap_or_else(|| {
            r.issue(
                row,
                "常见问题",
                "cell_invalid",
                "“常见问题”应写成“问：……”换行“答：……”，多条之间空一行",
            );
            *bad = true;
            Vec::new()
        })
    };
    let themes_raw = r.text(cells, row, "主题", bad);
    ServiceRecord {
        name,
        base_code,
        implementation_code,
        service_type: service_type.unwrap_or(ServiceType::Licensing),
        level: level.unwrap_or(ServiceLevel::Province),
        objects,
        channels,
        legal_limit: legal.map(|value| TimeLimit {
            value,
            unit: legal_unit.unwrap_or(TimeUnit::WorkingDays),
        }),
        promised_limit: promised.map(|value| TimeLimit {
            value,
            unit: promised_unit.unwrap_or(TimeUnit::WorkingDays),
        }),
        case_type: case_type.unwrap_or(CaseType::Promised),
        onsite_visits,
        online_depth: online_depth.unwrap_or(OnlineDepth::Information),
        fee,
        legal_basis: r.text(cells, row, "设定依据", bad),
        implementing_body: r.text(cells, row, "实施主体", bad),
        implementing_body_credit_code: r.text(cells, row, "实施主体统一社会信用代码", bad),
        department_code: String::new(),
        department_name: r.text(cells, row, "办理部门", bad),
        conditions: r.text(cells, row, "受理条件", bad),
        process: r.text(cells, row, "办理流程", bad),
        faqs,
        consult_phone: r.text(cells, row, "咨询电话", bad),
        supervise_phone: r.text(cells, row, "监督电话", bad),
        address: r.text(cells, row, "办理地点", bad),
        hours: r.text(cells, row, "办理时间", bad),
        themes: themes_raw
            .split(LIST_SEP)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

fn material_record(r: &mut Reader<'_>, cells: &[String], row: usize, bad: &mut bool) -> MaterialRecord {
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let name = r.text(cells, row, "材料名称", bad);
    let code = opt(r.text(cells, row, "材料编码", bad));
    let issuer = r.text(cells, row, "出具单位", bad);
    let originals = r.parse_with(cells, row, "原件数", bad, |s| s.parse::<u8>().ok(), "0 到 255 的整数");
    let copies = r.parse_with(cells, row, "复印件数", bad, |s| s.parse::<u8>().ok(), "0 到 255 的整数");
    let form = r.parse_with(
        cells,
        row,
        "材料形式",
        bad,
        |s| code_or_label(MaterialForm::ALL, MaterialForm::code, MaterialForm::label, s),
        "纸质、电子 或 纸质和电子",
    );
    let source = r.parse_with(
        cells,
        row,
        "来源渠道",
        bad,
        |s| code_or_label(MaterialSource::ALL, MaterialSource::code, MaterialSource::label, s),
        "申请人自备、政府部门核发 或 其他",
    );
    let required = r.parse_with(cells, row, "是否必需", bad, yes_no, "是 或 否");
    MaterialRecord {
        code,
        name,
        issuer,
        originals: originals.unwrap_or(0),
        copies: copies.unwrap_or(0),
        form: form.unwrap_or(MaterialForm::Paper),
        source: source.unwrap_or(MaterialSource::Applicant),
        required: required.unwrap_or(true),
        acceptance_standard: r.text(cells, row, "受理标准", bad),
        blank_form: opt(r.text(cells, row, "空白表格", bad)),
        sample: opt(r.text(cells, row, "示例样表", bad)),
    }
}

// ---- comparing with what a region shows ----------------------------------------------------------

/// What a region's import would do to one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowAction {
    /// A new base service (published from today).
    Create,
    /// A new published version of a base service.
    NewVersion,
    /// The region switches the service on and/or sets overrides.
    Change,
    /// Nothing changes.
    Unchanged,
}

/// Inheritable fields as (column header, how to set it in the overrides).
type Setter = fn(&mut ImplementationOverrides, &ServiceRecord);

pub const OVERRIDABLE: &[(&str, Setter)] = &[
    ("承诺时限", |o, r| {
        o.promised_limit = Inheritable::Overridden(r.promised_limit)
    }),
    ("办件类型", |o, r| {
        o.case_type = Inheritable::Overridden(r.case_type)
    }),
    ("办理地点", |o, r| {
        o.address = Inheritable::Overridden(r.address.clone())
    }),
    ("办理时间", |o, r| {
        o.hours = Inheritable::Overridden(r.hours.clone())
    }),
    ("咨询电话", |o, r| {
        o.consult_phone = Inheritable::Overridden(r.consult_phone.clone())
    }),
    ("监督电话", |o, r| {
        o.supervise_phone = Inheritable::Overridden(r.supervise_phone.clone())
    }),
    ("是否收费", |o, r| o.fee = Inheritable::Overridden(r.fee.clone())),
    ("实施主体", |o, r| {
        o.implementing_body = Inheritable::Overridden(r.implementing_body.clone())
    }),
    ("实施主体统一社会信用代码", |o, r| {
        o.implementing_body_credit_code = Inheritable::Overridden(r.implementing_body_credit_code.clone())
    }),
    ("办理部门", |o, r| {
        o.department_name = Inheritable::Overridden(r.department_name.clone())
    }),
];

/// The headers whose cells differ between two records (by how they are written in the sheet).
pub fn differing_headers(a: &ServiceRecord, b: &ServiceRecord) -> Vec<&'static str> {
    let (ra, rb) = (service_row(a), service_row(b));
    SERVICE_COLUMNS
        .iter()
        .zip(ra.iter().zip(rb.iter()))
        .filter(|(_, (x, y))| x != y)
        .map(|((h, _), _)| *h)
        .collect()
}

/// Maps a differing header to the overridable field it belongs to (fee cells are one field;
/// 承诺时限单位 belongs to 承诺时限).
pub fn overridable_of(header: &str) -> Option<&'static str> {
    let h = match header {
        "收费标准" | "收费依据" => "是否收费",
        "承诺时限单位" => "承诺时限",
        other => other,
    };
    OVERRIDABLE.iter().find(|(name, _)| *name == h).map(|(name, _)| *name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(28), "AC");
    }

    #[test]
    fn faqs_round_trip() {
        let faqs = vec![
            Faq {
                question: "要跑几次？".into(),
                answer: "一次。".into(),
            },
            Faq {
                question: "收费吗？".into(),
                answer: "不收费。".into(),
            },
        ];
        assert_eq!(parse_faqs(&faqs_text(&faqs)).unwrap(), faqs);
        assert_eq!(depth_of("Ⅳ级：全程网办"), Some(OnlineDepth::FullyOnline));
        assert_eq!(depth_of("IV"), Some(OnlineDepth::FullyOnline));
    }
}
