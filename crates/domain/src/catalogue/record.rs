//! Catalogue records: a service (事项, with the fields of GB/T 39046) and its materials (申请材料).
//! Records are plain data, stored as JSON and shown in the API; their checks live in `quality`,
//! so that an importer can load a faulty record and show every problem at once.
use super::codes::{
    CaseType, Channel, MaterialForm, MaterialSource, OnlineDepth, ServiceLevel, ServiceObject, ServiceType, TimeUnit,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A time limit: a number of days and their unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeLimit {
    pub value: u32,
    pub unit: TimeUnit,
}

impl TimeLimit {
    pub fn working_days(value: u32) -> Self {
        Self {
            value,
            unit: TimeUnit::WorkingDays,
        }
    }
    pub fn calendar_days(value: u32) -> Self {
        Self {
            value,
            unit: TimeUnit::CalendarDays,
        }
    }
}

/// A charge for a service (收费). No fee is `None` on the record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fee {
    /// What is charged, as shown to the applicant (e.g. "工本费每本 10 元").
    pub amount: String,
    /// The legal basis of the charge (收费依据); a fee without one is a data-quality error.
    pub basis: String,
}

/// A frequently asked question (常见问题).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Faq {
    pub question: String,
    pub answer: String,
}

/// A service as the catalogue describes it: the base item (基本目录) or a region's implementation
/// (实施清单), which has the same fields filled with local values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// 事项名称.
    pub name: String,
    /// 基本编码: 12 digits (see `quality` for the format).
    pub base_code: String,
    /// 实施编码: credit code of the implementing body + level digit + base code (+ 2-digit
    /// 业务办理项). Empty on a base item, which has no implementing body yet.
    #[serde(default)]
    pub implementation_code: String,
    pub service_type: ServiceType,
    pub level: ServiceLevel,
    /// 服务对象.
    pub objects: BTreeSet<ServiceObject>,
    /// 办理形式.
    pub channels: BTreeSet<Channel>,
    /// 法定办结时限; `None` where the law sets none (common for 公共服务).
    pub legal_limit: Option<TimeLimit>,
    /// 承诺办结时限; 0 working days for an instant case.
    pub promised_limit: Option<TimeLimit>,
    pub case_type: CaseType,
    /// 到办事现场次数.
    pub onsite_visits: u8,
    /// 网上办理深度.
    pub online_depth: OnlineDepth,
    /// 收费; `None` = free of charge.
    pub fee: Option<Fee>,
    /// 设定依据.
    pub legal_basis: String,
    /// 实施主体.
    pub implementing_body: String,
    /// 实施主体编码: the body's unified social credit code (GB 32100).
    pub implementing_body_credit_code: String,
    /// 业务办理部门 code and name (the department that decides the case).
    pub department_code: String,
    pub department_name: String,
    /// 受理条件.
    pub conditions: String,
    /// 办理流程.
    pub process: String,
    #[serde(default)]
    pub faqs: Vec<Faq>,
    /// 咨询电话.
    pub consult_phone: String,
    /// 监督投诉电话.
    pub supervise_phone: String,
    /// 办理地点.
    pub address: String,
    /// 办理时间.
    pub hours: String,
    /// 主题分类 tags, e.g. "开办企业", "出生".
    #[serde(default)]
    pub themes: Vec<String>,
}

/// A required document of a service (申请材料).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialRecord {
    /// Shared material code (e.g. from the e-certificate catalogue). When two services name the same
    /// code, a bundle asks for the material once even if its names differ.
    #[serde(default)]
    pub code: Option<String>,
    /// 材料名称.
    pub name: String,
    /// 出具单位; required when the source is a government department.
    #[serde(default)]
    pub issuer: String,
    /// 原件份数.
    pub originals: u8,
    /// 复印件份数.
    pub copies: u8,
    pub form: MaterialForm,
    pub source: MaterialSource,
    /// 是否必要.
    pub required: bool,
    /// 受理标准.
    pub acceptance_standard: String,
    /// 空白表格: reference to a stored file.
    #[serde(default)]
    pub blank_form: Option<String>,
    /// 示例样表: reference to a stored file.
    #[serde(default)]
    pub sample: Option<String>,
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A valid credit code (check character computed in `quality` tests).
    pub const CREDIT: &str = "91350100M000100Y43";

    pub fn service() -> ServiceRecord {
        ServiceRecord {
            name: "食品经营许可".into(),
            base_code: "000172007000".into(),
            implementation_code: format!("{CREDIT}4000172007000"),
            service_type: ServiceType::Licensing,
            level: ServiceLevel::County,
            objects: [ServiceObject::NaturalPerson, ServiceObject::Enterprise]
                .into_iter()
                .collect(),
            channels: [Channel::Window, Channel::Web].into_iter().collect(),
            legal_limit: Some(TimeLimit::working_days(20)),
            promised_limit: Some(TimeLimit::working_days(5)),
            case_type: CaseType::Promised,
            onsite_visits: 1,
            online_depth: OnlineDepth::OnlineAcceptance,
            fee: None,
            legal_basis: "《中华人民共和国食品安全法》第三十五条".into(),
            implementing_body: "罗平县市场监督管理局".into(),
            implementing_body_credit_code: CREDIT.into(),
            department_code: "990102".into(),
            department_name: "罗平县市场监督管理局".into(),
            conditions: "申请人应当具有与经营的食品品种、数量相适应的经营场所".into(),
            process: "申请、受理、审查、决定、送达".into(),
            faqs: vec![Faq {
                question: "需要现场核查吗？".into(),
                answer: "视情况而定。".into(),
            }],
            consult_phone: "0999-12345678".into(),
            supervise_phone: "12345".into(),
            address: "罗平县政务服务中心二楼".into(),
            hours: "工作日 9:00-12:00，13:30-17:00".into(),
            themes: vec!["开办企业".into()],
        }
    }

    pub fn material(name: &str) -> MaterialRecord {
        MaterialRecord {
            code: None,
            name: name.into(),
            issuer: String::new(),
            originals: 1,
            copies: 0,
            form: MaterialForm::Paper,
            source: MaterialSource::Applicant,
            required: true,
            acceptance_standard: "内容完整、签字盖章齐全".into(),
            blank_form: None,
            sample: None,
        }
    }
}
