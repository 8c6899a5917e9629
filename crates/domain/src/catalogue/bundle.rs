//! 一件事 (bundles): several services applied for together with one form and one set of materials.
//! A material two services both ask for is asked once; form fields with the same key are one field.
use super::record::{MaterialRecord, ServiceRecord};
use crate::DomainError;
use crate::form::{FieldKind, FormDefinition, FormField};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A bundle: its name and the services in it (by implementation code, or base code for a bundle
/// defined on the base catalogue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub name: String,
    pub services: Vec<String>,
}

/// One service of a bundle with its materials and form, as passed to [`merge_bundle`].
#[derive(Debug, Clone, Copy)]
pub struct BundleMember<'a> {
    pub service: &'a ServiceRecord,
    pub materials: &'a [MaterialRecord],
    pub form: &'a FormDefinition,
}

/// A material of the merged list, with the services that ask for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedMaterial {
    pub material: MaterialRecord,
    /// Names of the services that ask for it, in bundle order.
    pub services: Vec<String>,
}

/// The merged materials and form of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedBundle {
    pub name: String,
    pub materials: Vec<MergedMaterial>,
    pub form: FormDefinition,
}

/// The identity of a material across services: its shared material code when it has one, otherwise
/// its name normalised (blanks dropped, full-width ASCII and brackets made half-width, lower-cased),
/// so that "营业执照（副本）" and "营业执照 (副本)" are one material.
pub fn material_identity(m: &MaterialRecord) -> String {
    if let Some(code) = m.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        return format!("code:{code}");
    }
    let name: String = m
        .name
        .chars()
        .map(|c| match u32::from(c) {
            0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    format!("name:{name}")
}

/// Merges the materials and forms of a bundle's services.
///
/// Materials: one entry per identity, in first-seen order. A merged material is required if any
/// service requires it, asks for the most originals and copies any service asks for, in every form
/// any asks for, and lists all distinct acceptance standards.
///
/// Form: fields deduplicated by key, in first-seen order; the merged field is required if any is,
/// keeps the strictest length limit, and unions select options. Two fields with one key but
/// different kinds (other than two selects), or different masks, are a conflict the bundle's author
/// must resolve: `bundle_form_conflict`.
pub fn merge_bundle(bundle: &Bundle, members: &[BundleMember<'_>]) -> Result<MergedBundle, DomainError> {
    if members.is_empty() {
        return Err(DomainError::invalid(
            "bundle_empty",
            "services",
            "一件事至少包含一个事项",
        ));
    }
    let mut materials: Vec<MergedMaterial> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut fields: Vec<FormField> = Vec::new();
    for member in members {
        let service_name = member.service.name.clone();
        for m in member.materials {
            let id = material_identity(m);
            match index.get(&id).and_then(|&i| materials.get_mut(i)) {
                Some(merged) => {
                    let into = &mut merged.material;
                    into.required |= m.required;
                    into.originals = into.originals.max(m.originals);
                    into.copies = into.copies.max(m.copies);
                    into.form = into.form.union(m.form);
                    let std = m.acceptance_standard.trim();
                    if !std.is_empty() && !into.acceptance_standard.split('；').any(|s| s == std) {
                        if !into.acceptance_standard.is_empty() {
                            into.acceptance_standard.push('；');
                        }
                        into.acceptance_standard.push_str(std);
                    }
                    if into.issuer.trim().is_empty() {
                        into.issuer = m.issuer.clone();
                    }
                    into.blank_form = into.blank_form.take().or_else(|| m.blank_form.clone());
                    into.sample = into.sample.take().or_else(|| m.sample.clone());
                    if !merged.services.contains(&service_name) {
                        merged.services.push(service_name.clone());
                    }
                }
                None => {
                    index.insert(id, materials.len());
                    let mut material = m.clone();
                    material.acceptance_standard = material.acceptance_standard.trim().to_owned();
                    materials.push(MergedMaterial {
                        material,
                        services: vec![service_name.clone()],
                    });
                }
            }
        }
        for f in &member.form.fields {
            match fields.iter_mut().find(|x| x.key == f.key) {
                None => fields.push(f.clone()),
                Some(into) => merge_field(into, f)?,
            }
        }
    }
    Ok(MergedBundle {
        name: bundle.name.clone(),
        materials,
        form: FormDefinition { fields },
    })
}

fn merge_field(into: &mut FormField, f: &FormField) -> Result<(), DomainError> {
    let conflict = || {
        DomainError::conflict(
            "bundle_form_conflict",
            format!(
                "字段 {}（{}）在不同事项的表单中定义不一致，请统一后再合并",
                f.key, f.label
            ),
        )
    };
    match (&mut into.kind, &f.kind) {
        (FieldKind::Select(a), FieldKind::Select(b)) => {
            for o in b {
                if !a.iter().any(|x| x.value == o.value) {
                    a.push(o.clone());
                }
            }
        }
        (a, b) if *a == *b => {}
        _ => return Err(conflict()),
    }
    if into.pattern != f.pattern || into.date_rule != f.date_rule {
        return Err(conflict());
    }
    into.required |= f.required;
    into.max_len = match (into.max_len, f.max_len) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::codes::MaterialForm;
    use super::super::record::fixtures::{material, service};
    use super::*;
    use crate::form::SelectOption;

    #[test]
    fn shared_material_is_asked_once() {
        let mut a = service();
        a.name = "设立登记".into();
        let mut b = service();
        b.name = "食品经营许可".into();
        let mut lic_a = material("营业执照（副本）");
        lic_a.required = false;
        let mut lic_b = material("营业执照 (副本)");
        lic_b.copies = 2;
        lic_b.form = MaterialForm::Electronic;
        lic_b.acceptance_standard = "在有效期内".into();
        let mut id_a = material("法定代表人身份证");
        id_a.code = Some("ID-001".into());
        let mut id_b = material("负责人身份证明");
        id_b.code = Some("ID-001".into());
        let ma = vec![lic_a, id_a, material("章程")];
        let mb = vec![lic_b, id_b, material("场所证明")];
        let mut fa = FormDefinition {
            fields: vec![
                FormField::new("name", "企业名称", FieldKind::Text, false),
                FormField::new(
                    "kind",
                    "类型",
                    FieldKind::Select(vec![SelectOption {
                        value: "a".into(),
                        label: "甲".into(),
                    }]),
                    true,
                ),
            ],
        };
        fa.fields[0].max_len = Some(50);
        let mut fb = FormDefinition {
            fields: vec![
                FormField::new("name", "企业名称", FieldKind::Text, true),
                FormField::new(
                    "kind",
                    "类型",
                    FieldKind::Select(vec![SelectOption {
                        value: "b".into(),
                        label: "乙".into(),
                    }]),
                    false,
                ),
                FormField::new("area", "经营面积", FieldKind::Number, true),
            ],
        };
        fb.fields[0].max_len = Some(30);
        let bundle = Bundle {
            name: "开餐馆".into(),
            services: vec!["x".into(), "y".into()],
        };
        let merged = merge_bundle(
            &bundle,
            &[
                BundleMember {
                    service: &a,
                    materials: &ma,
                    form: &fa,
                },
                BundleMember {
                    service: &b,
                    materials: &mb,
                    form: &fb,
                },
            ],
        )
        .unwrap();
        let names: Vec<&str> = merged.materials.iter().map(|m| m.material.name.as_str()).collect();
        assert_eq!(names, vec!["营业执照（副本）", "法定代表人身份证", "章程", "场所证明"]);
        let lic = &merged.materials[0];
        assert!(lic.material.required);
        assert_eq!(lic.material.copies, 2);
        assert_eq!(lic.material.form, MaterialForm::PaperAndElectronic);
        assert_eq!(lic.material.acceptance_standard, "内容完整、签字盖章齐全；在有效期内");
        assert_eq!(lic.services, vec!["设立登记".to_string(), "食品经营许可".to_string()]);
        assert_eq!(merged.materials[1].services.len(), 2);
        let f = &merged.form.fields;
        assert_eq!(f.len(), 3);
        assert!(f[0].required);
        assert_eq!(f[0].max_len, Some(30));
        assert!(matches!(&f[1].kind, FieldKind::Select(o) if o.len() == 2));
        assert_eq!(merged.form.validate(), Ok(()));
    }

    #[test]
    fn conflicting_fields_are_refused() {
        let s = service();
        let fa = FormDefinition {
            fields: vec![FormField::new("x", "X", FieldKind::Text, false)],
        };
        let fb = FormDefinition {
            fields: vec![FormField::new("x", "X", FieldKind::Date, false)],
        };
        let bundle = Bundle {
            name: "b".into(),
            services: vec![],
        };
        let err = merge_bundle(
            &bundle,
            &[
                BundleMember {
                    service: &s,
                    materials: &[],
                    form: &fa,
                },
                BundleMember {
                    service: &s,
                    materials: &[],
                    form: &fb,
                },
            ],
        )
        .unwrap_err();
        assert_eq!(err.code(), "bundle_form_conflict");
        assert_eq!(merge_bundle(&bundle, &[]).unwrap_err().code(), "bundle_empty");
    }
}
