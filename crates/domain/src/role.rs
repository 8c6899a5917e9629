//! Staff roles and what each may do. A role is granted on a region subtree; the scope check
//! (is the target inside the granted subtree?) is done with `RegionPath::contains`.
use crate::DomainError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    WindowClerk,
    Reviewer,
    HallManager,
    RegionAdmin,
    Supervisor,
    Auditor,
    SystemAdmin,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::WindowClerk,
        Role::Reviewer,
        Role::HallManager,
        Role::RegionAdmin,
        Role::Supervisor,
        Role::Auditor,
        Role::SystemAdmin,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WindowClerk => "window_clerk",
            Self::Reviewer => "reviewer",
            Self::HallManager => "hall_manager",
            Self::RegionAdmin => "region_admin",
            Self::Supervisor => "supervisor",
            Self::Auditor => "auditor",
            Self::SystemAdmin => "system_admin",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("role_invalid", "role", format!("未知的角色：{raw}")))
    }
    /// 简体 label shown in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Self::WindowClerk => "窗口人员",
            Self::Reviewer => "审批人员",
            Self::HallManager => "大厅管理员",
            Self::RegionAdmin => "区划管理员",
            Self::Supervisor => "效能监察",
            Self::Auditor => "审计员",
            Self::SystemAdmin => "系统管理员",
        }
    }
    /// Whether this role carries `permission` (inside its granted subtree).
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match permission {
            // Everyone on staff sees the structure of the subtree they work in.
            RegionRead => true,
            // The structure admin pages are for those who run or oversee it, not for the
            // people working a window or an inbox (they see their hall through their own pages).
            StructureBrowse => matches!(self, HallManager | RegionAdmin | Supervisor | Auditor | SystemAdmin),
            RegionWrite | StaffWrite => matches!(self, RegionAdmin | SystemAdmin),
            StaffRead => matches!(self, HallManager | RegionAdmin | SystemAdmin),
            DeviceManage => matches!(self, HallManager | RegionAdmin | SystemAdmin),
            AuditRead => matches!(self, Auditor | SystemAdmin),
            SupervisionRead => matches!(self, HallManager | Supervisor | RegionAdmin | SystemAdmin),
            WindowWork => matches!(self, WindowClerk | HallManager),
            BackOfficeWork => matches!(self, Reviewer | HallManager),
            HallManage => matches!(self, HallManager | RegionAdmin | SystemAdmin),
            CatalogueWrite => matches!(self, RegionAdmin | SystemAdmin),
            SettingsWrite => matches!(self, RegionAdmin | SystemAdmin),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Things a request may want to do. Roles map to permissions in `Role::allows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See regions, halls, departments and windows.
    RegionRead,
    /// Create, rename, move and close regions, halls, departments and windows.
    RegionWrite,
    /// Open the structure admin pages (read-only unless RegionWrite).
    StructureBrowse,
    /// See staff accounts.
    StaffRead,
    /// Create, disable and reset staff accounts and grants.
    StaffWrite,
    /// Register, pair and revoke kiosks, boards and evaluator pads.
    DeviceManage,
    /// Search the audit trail.
    AuditRead,
    /// Dashboards, warnings and scorecards.
    SupervisionRead,
    /// Work a window: call tickets, take in applications.
    WindowWork,
    /// Work the back-office inbox.
    BackOfficeWork,
    /// Run the hall floor: open and close windows, staffing, follow-ups.
    HallManage,
    /// Keep the catalogue and implementation lists.
    CatalogueWrite,
    /// Override and reset a region's settings (the configurable numbers of the rules).
    SettingsWrite,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn only_admins_change_structure_and_only_auditors_read_the_trail() {
        let writers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.allows(Permission::RegionWrite))
            .collect();
        assert_eq!(writers, vec![Role::RegionAdmin, Role::SystemAdmin]);
        let auditors: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.allows(Permission::AuditRead))
            .collect();
        assert_eq!(auditors, vec![Role::Auditor, Role::SystemAdmin]);
    }
}
