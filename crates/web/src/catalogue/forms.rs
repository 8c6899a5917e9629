//! Application forms of the demo and of services created without one: a few presets built from the
//! domain's field kinds, so that the same keys recur across services and a bundle's merged form asks
//! for the applicant once.
use onestop_domain::catalogue::{ServiceObject, ServiceRecord};
use onestop_domain::form::{DateRule, FieldKind, FormDefinition, FormField, SelectOption};

fn field(key: &str, label: &str, kind: FieldKind, required: bool) -> FormField {
    FormField::new(key, label, kind, required)
}

fn person() -> Vec<FormField> {
    vec![
        FormField {
            max_len: Some(50),
            ..field("applicant_name", "申请人姓名", FieldKind::Text, true)
        },
        field("applicant_id_number", "居民身份证号码", FieldKind::IdNumber, true),
        field("applicant_phone", "手机号码", FieldKind::Phone, true),
        FormField {
            max_len: Some(100),
            ..field("applicant_address", "联系地址", FieldKind::Text, false)
        },
    ]
}

fn company() -> Vec<FormField> {
    vec![
        FormField {
            max_len: Some(100),
            ..field("org_name", "单位名称", FieldKind::Text, true)
        },
        field("org_credit_code", "统一社会信用代码", FieldKind::CreditCode, false),
        FormField {
            max_len: Some(50),
            ..field("legal_rep_name", "法定代表人（负责人）", FieldKind::Text, true)
        },
        FormField {
            max_len: Some(50),
            ..field("contact_name", "联系人", FieldKind::Text, true)
        },
        field("contact_phone", "联系电话", FieldKind::Phone, true),
        FormField {
            max_len: Some(100),
            ..field("org_address", "住所（经营场所）", FieldKind::Text, true)
        },
    ]
}

fn birth() -> Vec<FormField> {
    vec![
        FormField {
            max_len: Some(50),
            ..field("child_name", "新生儿姓名", FieldKind::Text, true)
        },
        field(
            "child_gender",
            "新生儿性别",
            FieldKind::Select(vec![
                SelectOption {
                    value: "m".into(),
                    label: "男".into(),
                },
                SelectOption {
                    value: "f".into(),
                    label: "女".into(),
                },
            ]),
            true,
        ),
        FormField {
            date_rule: Some(DateRule::NotFuture),
            ..field("child_birth_date", "出生日期", FieldKind::Date, true)
        },
        FormField {
            max_len: Some(50),
            ..field("applicant_name", "申请人（父亲或母亲）姓名", FieldKind::Text, true)
        },
        field("applicant_id_number", "居民身份证号码", FieldKind::IdNumber, true),
        field("applicant_phone", "手机号码", FieldKind::Phone, true),
    ]
}

fn commitment() -> FormField {
    field(
        "commitment",
        "本人承诺所填信息和所交材料真实有效",
        FieldKind::Checkbox,
        true,
    )
}

/// A named preset (`person`, `company`, `birth`), with the truthfulness commitment at the end.
pub fn preset(name: &str) -> Option<FormDefinition> {
    let mut fields = match name {
        "person" => person(),
        "company" => company(),
        "birth" => birth(),
        _ => return None,
    };
    fields.push(commitment());
    Some(FormDefinition { fields })
}

/// The form of a service created without one: for people, or for organisations, by its objects.
pub fn default_form(record: &ServiceRecord) -> FormDefinition {
    let for_people = record.objects.contains(&ServiceObject::NaturalPerson) || record.objects.is_empty();
    let name = if for_people { "person" } else { "company" };
    preset(name).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn presets_are_valid_definitions() {
        for name in ["person", "company", "birth"] {
            super::preset(name).unwrap().validate().unwrap();
        }
        assert!(super::preset("nope").is_none());
    }
}
