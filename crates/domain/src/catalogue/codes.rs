//! Code lists of GB/T 39046-2020 Annex A, plus the few local lists the catalogue needs (time unit,
//! material form and source, version status). Each enum serialises as its code (e.g. `"01"`), because
//! the code is what other platforms exchange and it never changes when a label is reworded.
use crate::DomainError;
use serde::{Deserialize, Serialize};

/// Declares a code list: an enum whose variants carry a code and a 简体 label, with `ALL`, `code()`,
/// `label()` and `parse()`. One macro keeps the eleven lists uniform.
macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $name:ident, error = $err:literal, what = $what:literal,
        { $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $label:literal; )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $code)] $variant, )+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code as exchanged between platforms.
            pub fn code(self) -> &'static str {
                match self { $( Self::$variant => $code, )+ }
            }

            /// 简体 label shown in the UI.
            pub fn label(self) -> &'static str {
                match self { $( Self::$variant => $label, )+ }
            }

            /// Parses a code (surrounding blanks ignored).
            pub fn parse(raw: &str) -> Result<Self, DomainError> {
                let s = raw.trim();
                Self::ALL.iter().copied().find(|v| v.code() == s).ok_or_else(|| {
                    DomainError::invalid($err, $what, format!("未知的{}代码：{}", $crate::catalogue::codes::what_label($what), s))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}

/// 简体 name of the field a code list fills, for error messages.
pub(crate) fn what_label(field: &str) -> &'static str {
    match field {
        "service_type" => "事项类型",
        "level" => "行使层级",
        "object" => "服务对象",
        "channel" => "办理形式",
        "online_depth" => "网上办理深度",
        "case_type" => "办件类型",
        "time_unit" => "时限单位",
        "material_form" => "材料形式",
        "material_source" => "材料来源渠道",
        "status" => "版本状态",
        _ => "代码",
    }
}

code_list! {
    /// 事项类型 (GB/T 39046 Table A.1).
    ServiceType, error = "service_type_invalid", what = "service_type", {
        Licensing = "01", "行政许可";
        Penalty = "02", "行政处罚";
        Coercion = "03", "行政强制";
        Levy = "04", "行政征收";
        Benefit = "05", "行政给付";
        Inspection = "06", "行政检查";
        Confirmation = "07", "行政确认";
        Reward = "08", "行政奖励";
        Adjudication = "09", "行政裁决";
        OtherPower = "10", "其他行政权力";
        PublicService = "20", "公共服务";
    }
}

code_list! {
    /// 行使层级: the level of government that exercises the service.
    ServiceLevel, error = "service_level_invalid", what = "level", {
        National = "1", "国家级";
        Province = "2", "省级";
        City = "3", "市级";
        County = "4", "县级";
        Township = "5", "乡镇（街道）级";
        Community = "6", "村（社区）级";
    }
}

code_list! {
    /// 服务对象.
    ServiceObject, error = "service_object_invalid", what = "object", {
        NaturalPerson = "1", "自然人";
        Enterprise = "2", "企业法人";
        Institution = "3", "事业法人";
        SocialOrganization = "4", "社会组织法人";
        AdministrativeOrgan = "5", "行政机关";
        OtherOrganization = "6", "其他组织";
    }
}

code_list! {
    /// 办理形式: how an application can be made.
    Channel, error = "channel_invalid", what = "channel", {
        Window = "1", "窗口办理";
        Web = "2", "网上办理（电脑端）";
        Mobile = "3", "移动端办理";
        Express = "4", "快递申请";
        Other = "9", "其他";
    }
}

code_list! {
    /// 网上办理深度, the usual four levels Ⅰ–Ⅳ.
    OnlineDepth, error = "online_depth_invalid", what = "online_depth", {
        /// Ⅰ: the guide is published and questions can be asked online.
        Information = "1", "Ⅰ级：信息公开、网上咨询";
        /// Ⅱ: appointments can be booked and blank forms downloaded.
        Preparation = "2", "Ⅱ级：在线预约、表格下载";
        /// Ⅲ: materials are pre-checked and the application is accepted online; results or
        /// originals still need one visit.
        OnlineAcceptance = "3", "Ⅲ级：在线预审、网上受理";
        /// Ⅳ: the whole case is handled online (全程网办): no visit at all.
        FullyOnline = "4", "Ⅳ级：全程网办";
    }
}

impl OnlineDepth {
    /// Roman numeral, for compact display.
    pub fn roman(self) -> &'static str {
        match self {
            Self::Information => "Ⅰ",
            Self::Preparation => "Ⅱ",
            Self::OnlineAcceptance => "Ⅲ",
            Self::FullyOnline => "Ⅳ",
        }
    }
}

code_list! {
    /// 办件类型.
    CaseType, error = "case_type_invalid", what = "case_type", {
        /// 即办件: decided on the spot; its promised limit is 0 working days.
        Instant = "1", "即办件";
        /// 承诺件: decided within the promised limit.
        Promised = "2", "承诺件";
    }
}

code_list! {
    /// Unit of a time limit. Statutory limits count working days (《行政许可法》); a few laws give
    /// calendar days, so both are kept and compared conservatively (see `quality`).
    TimeUnit, error = "time_unit_invalid", what = "time_unit", {
        WorkingDays = "1", "工作日";
        CalendarDays = "2", "自然日";
    }
}

code_list! {
    /// 材料形式.
    MaterialForm, error = "material_form_invalid", what = "material_form", {
        Paper = "1", "纸质";
        Electronic = "2", "电子";
        PaperAndElectronic = "3", "纸质和电子";
    }
}

impl MaterialForm {
    /// Whether a paper copy is asked for.
    pub fn has_paper(self) -> bool {
        matches!(self, Self::Paper | Self::PaperAndElectronic)
    }
    /// Whether an electronic copy is asked for.
    pub fn has_electronic(self) -> bool {
        matches!(self, Self::Electronic | Self::PaperAndElectronic)
    }
    /// The form that asks for everything either of two forms asks for (used when merging bundles).
    pub fn union(self, other: Self) -> Self {
        match (
            self.has_paper() || other.has_paper(),
            self.has_electronic() || other.has_electronic(),
        ) {
            (true, true) => Self::PaperAndElectronic,
            (false, true) => Self::Electronic,
            _ => Self::Paper,
        }
    }
}

code_list! {
    /// 材料来源渠道.
    MaterialSource, error = "material_source_invalid", what = "material_source", {
        Applicant = "1", "申请人自备";
        Government = "2", "政府部门核发";
        Other = "9", "其他";
    }
}

code_list! {
    /// Status of a catalogue version. Codes are words: this list is ours, not the standard's.
    VersionStatus, error = "version_status_invalid", what = "status", {
        Draft = "draft", "草稿";
        Published = "published", "已发布";
        Withdrawn = "withdrawn", "已撤回";
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_serialise_as_codes() {
        for t in ServiceType::ALL {
            assert_eq!(ServiceType::parse(t.code()).unwrap(), *t);
        }
        assert_eq!(ServiceType::parse(" 20 ").unwrap(), ServiceType::PublicService);
        assert_eq!(ServiceType::Licensing.label(), "行政许可");
        assert_eq!(serde_json::to_string(&ServiceType::Licensing).unwrap(), "\"01\"");
        let c: Channel = serde_json::from_str("\"9\"").unwrap();
        assert_eq!(c, Channel::Other);
        assert_eq!(ServiceLevel::ALL.len(), 6);
        assert_eq!(OnlineDepth::FullyOnline.roman(), "Ⅳ");
    }

    #[test]
    fn unknown_code_is_refused_with_stable_code() {
        let e = ServiceType::parse("11").unwrap_err();
        assert_eq!(e.code(), "service_type_invalid");
        assert!(e.to_string().contains("事项类型"));
        assert!(serde_json::from_str::<CaseType>("\"3\"").is_err());
    }

    #[test]
    fn material_form_union() {
        assert_eq!(
            MaterialForm::Paper.union(MaterialForm::Electronic),
            MaterialForm::PaperAndElectronic
        );
        assert_eq!(MaterialForm::Paper.union(MaterialForm::Paper), MaterialForm::Paper);
        assert_eq!(
            MaterialForm::Electronic.union(MaterialForm::Electronic),
            MaterialForm::Electronic
        );
    }
}
