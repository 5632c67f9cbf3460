//! Which scope each operation needs (CONTRACT.md §1, scope table).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    ReadOrganization,
    ReadTemplates,
    ReadSchedule,
    ReadSwaps,
    WriteAgent,
    Publish,
}

impl Operation {
    /// Every operation, e.g. to create each endpoint's metric series at start.
    pub const ALL: [Operation; 6] = [
        Operation::ReadOrganization,
        Operation::ReadTemplates,
        Operation::ReadSchedule,
        Operation::ReadSwaps,
        Operation::WriteAgent,
        Operation::Publish,
    ];

    pub fn scope(self) -> &'static str {
        match self {
            Operation::ReadOrganization => "org:read",
            Operation::ReadTemplates | Operation::ReadSchedule | Operation::ReadSwaps => {
                "wfm:schedule:read"
            }
            Operation::WriteAgent => "wfm:schedule:write",
            Operation::Publish => "wfm:admin",
        }
    }

    /// A short name for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            Operation::ReadOrganization => "organization",
            Operation::ReadTemplates => "templates",
            Operation::ReadSchedule => "schedule",
            Operation::ReadSwaps => "shiftswaps",
            Operation::WriteAgent => "write_agent",
            Operation::Publish => "publish",
        }
    }

    /// Whether the platform's rule on pending swaps can be behind a 403.
    pub fn touches_agents(self) -> bool {
        matches!(self, Operation::WriteAgent | Operation::Publish)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::ReadOrganization => "read the organization",
            Operation::ReadTemplates => "read schedule templates",
            Operation::ReadSchedule => "read the schedule",
            Operation::ReadSwaps => "read shift swaps",
            Operation::WriteAgent => "write agents' shifts",
            Operation::Publish => "publish the schedule",
        })
    }
}

/// What a publication run does, and so the scopes it must hold before its
/// first write.
pub const PUBLICATION: [Operation; 4] = [
    Operation::ReadSchedule,
    Operation::ReadSwaps,
    Operation::WriteAgent,
    Operation::Publish,
];

/// The operations among `needed` whose scope is not in `granted`.
pub fn missing(granted: &[String], needed: &[Operation]) -> Vec<Operation> {
    let mut out: Vec<Operation> = Vec::new();
    for op in needed {
        let held = granted.iter().any(|g| g == op.scope());
        if !held && !out.iter().any(|o| o.scope() == op.scope()) {
            out.push(*op);
        }
    }
    out
}

pub fn parse_scope_list(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_owned).collect()
}
