//! The service catalogue (政务服务事项目录): GB/T 39046-2020 code lists, service and material records,
//! data-quality rules, the live inheritance of implementation fields down the region tree, versions,
//! bundles (一件事) and search helpers. Pure domain code: no I/O, dates come in as parameters.
//!
//! Submodules:
//! - [`codes`]: the Annex A code lists as enums (code + 简体 label + parse);
//! - [`record`]: [`ServiceRecord`] and [`MaterialRecord`];
//! - [`quality`]: [`validate_service`] / [`validate_material`], reporting every problem at once;
//! - [`inherit`]: [`Inheritable`] fields and the resolver that says where an effective value came from;
//! - [`version`]: draft / published / withdrawn versions and [`effective_version`];
//! - [`bundle`]: [`merge_bundle`] for 一件事;
//! - [`search`]: [`pinyin_initials`], entries prepared once ([`SearchText`]) and scored by [`SearchQuery`].

pub mod bundle;
pub mod codes;
pub mod inherit;
pub mod quality;
pub mod record;
pub mod search;
pub mod version;

pub use bundle::{Bundle, BundleMember, MergedBundle, MergedMaterial, material_identity, merge_bundle};
pub use codes::{
    CaseType, Channel, MaterialForm, MaterialSource, OnlineDepth, ServiceLevel, ServiceObject, ServiceType, TimeUnit,
    VersionStatus,
};
pub use inherit::{
    EffectiveImplementation, ImplementationOverrides, Inheritable, Origin, RegionOverrides, Resolved, resolve_field,
    resolve_implementation,
};
pub use quality::{QualityIssue, Severity, credit_code_is_valid, file_ref_ok, validate_material, validate_service};
pub use record::{Faq, Fee, MaterialRecord, ServiceRecord, TimeLimit};
pub use search::{SearchQuery, SearchText, pinyin_initials, search_score};
pub use version::{Version, effective_version};
