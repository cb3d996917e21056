//! The compiled policy: side-effect classes, rules, change windows, risk weights and question
//! wording, built once at bundle load; and the prepared action, which resolves everything
//! about an action that does not depend on the request's facts.

use super::issue::{IssueCode, ISSUE_COUNT};
use super::requirements::{NameSet, Requirements, WindowId};
use super::window::ChangeWindow;
use jiff::SignedDuration;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::Arc;

/// Index of a side-effect class.
pub type ClassId = u8;

/// A set of side-effect classes (at most 32 per bundle).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClassMask(pub u32);

impl ClassMask {
    pub fn with(self, id: ClassId) -> ClassMask {
        ClassMask(self.0 | (1 << id))
    }
    pub fn intersects(self, other: ClassMask) -> bool {
        self.0 & other.0 != 0
    }
    pub fn contains(self, id: ClassId) -> bool {
        self.0 & (1 << id) != 0
    }
}

/// One side-effect class: its name, the free-text labels that map to it, its risk weight,
/// and whether it is destructive (needs approval whatever the constraints say).
#[derive(Clone, Debug)]
pub struct SideEffectClass {
    pub name: Arc<str>,
    pub risk: u8,
    pub destructive: bool,
    /// Pre-built risk signal, e.g. `side_effect:money_movement`.
    pub signal: Arc<str>,
    pub questions: QuestionTable,
}

/// Question wording per issue code; `None` falls through to the next, wider table.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionTable(pub [Option<Arc<str>>; ISSUE_COUNT]);

impl Default for QuestionTable {
    fn default() -> Self {
        QuestionTable(std::array::from_fn(|_| None))
    }
}

impl QuestionTable {
    pub fn get(&self, code: IssueCode) -> Option<&Arc<str>> {
        self.0[code as usize].as_ref()
    }
    pub fn set(&mut self, code: IssueCode, text: Arc<str>) {
        self.0[code as usize] = Some(text);
    }
    /// Fills each unset entry from `wider`.
    pub fn fill_from(&mut self, wider: &QuestionTable) {
        for (mine, theirs) in self.0.iter_mut().zip(wider.0.iter()) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// When a rule applies. Every present condition must hold; a list matches when any item
/// does. `routes`, `classes` and `tools` are settled when an action is prepared;
/// `environments` and `min_risk` need the request's facts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Condition {
    pub routes: Option<NameSet>,
    pub classes: Option<ClassMask>,
    pub tools: Option<NameSet>,
    pub environments: Option<NameSet>,
    pub min_risk: Option<u8>,
}

impl Condition {
    pub fn is_dynamic(&self) -> bool {
        self.environments.is_some() || self.min_risk.is_some()
    }
}

/// A bundle rule: requirements added whenever its condition holds. Callers cannot remove them.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: Arc<str>,
    pub when: Condition,
    pub require: Requirements,
}

/// How approval evidence ages.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalPolicy {
    /// Older approvals are expired (default 1h).
    pub max_age: SignedDuration,
    /// How far in the future `approved_at` may be before it counts as expired (default 60s).
    pub clock_skew: SignedDuration,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            max_age: SignedDuration::from_hours(1),
            clock_skew: SignedDuration::from_secs(60),
        }
    }
}

/// Extra risk by environment, and how unknown side-effect labels are treated.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskModel {
    /// (environment, weight, signal such as `environment:production`).
    pub environments: Vec<(Box<str>, u8, Arc<str>)>,
    pub unclassified_weight: u8,
    /// Defer actions that carry a side-effect label no class claims.
    pub defer_unclassified: bool,
}

impl Default for RiskModel {
    fn default() -> Self {
        RiskModel {
            environments: Vec::new(),
            unclassified_weight: 50,
            defer_unclassified: true,
        }
    }
}

/// The whole compiled policy of a bundle. Immutable; shared by every request of a snapshot.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// `name@version` of the bundle this policy came from.
    pub policy_version: Arc<str>,
    /// `sha256:<hex>` content digest of the bundle.
    pub digest: Arc<str>,
    /// Environments the bundle knows; any other is refused (ENVIRONMENT_NOT_ALLOWED), so a
    /// spelling variant cannot slip past a rule keyed on an environment. `None`: any.
    pub known_environments: Option<NameSet>,
    pub classes: Vec<SideEffectClass>,
    /// Normalized label (see [`normalize_label`]) to class.
    pub labels: HashMap<Box<str>, ClassId>,
    pub rules: Vec<Rule>,
    pub windows: Vec<ChangeWindow>,
    pub approval: ApprovalPolicy,
    pub risk: RiskModel,
    /// Bundle-wide question wording.
    pub questions: QuestionTable,
}

/// Normalizes a side-effect label or constraint word: trimmed, ASCII lower case, with runs
/// of spaces, hyphens and underscores folded to one `_`.
pub fn normalize_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let mut pending_sep = false;
    for ch in label.trim().chars() {
        if ch == ' ' || ch == '-' || ch == '_' || ch == '\t' {
            pending_sep = !out.is_empty();
        } else {
            if pending_sep {
                out.push('_');
                pending_sep = false;
            }
            out.extend(ch.to_lowercase());
        }
    }
    out
}

/// Everything about an action that does not depend on the request's facts: resolved
/// classes, the static requirements (its own constraints plus every rule that applies
/// whatever the facts), the rules still to check against the facts, the base risk, and the
/// question wording. Built at bundle load for routes, and per payload for `/check`.
#[derive(Clone, Debug, Default)]
pub struct PreparedAction {
    pub route: Option<Arc<str>>,
    pub goal: Arc<str>,
    pub tools: Arc<[Box<str>]>,
    pub side_effects: Arc<[Box<str>]>,
    pub classes: ClassMask,
    /// Side-effect labels no class claims (normalized).
    pub unclassified: SmallVec<[Box<str>; 1]>,
    /// Some class is destructive: approval is needed whatever the constraints say.
    pub destructive: bool,
    pub requirements: Requirements,
    /// Indices into [`Policy::rules`] of rules whose condition depends on the facts.
    pub dynamic_rules: SmallVec<[u16; 4]>,
    /// Risk from classes and unclassified labels, before the environment's share.
    pub base_risk: u8,
    pub signals: Vec<Arc<str>>,
    /// Question wording resolved for this action (route, then class, then bundle).
    pub questions: Arc<QuestionTable>,
}

/// The result of evaluating a prepared action against facts: no allocation, `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub issues: super::issue::IssueSet,
    pub risk: u8,
    /// Index into [`RiskModel::environments`] of the environment risk that applied.
    pub environment_risk: Option<u16>,
}

impl Policy {
    pub fn window_id(&self, name: &str) -> Option<WindowId> {
        self.windows
            .iter()
            .position(|w| &*w.name == name)
            .map(|i| i as WindowId)
    }

    pub fn class_of(&self, label: &str) -> Option<ClassId> {
        self.labels.get(normalize_label(label).as_str()).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_normalize_spelling_variants() {
        assert_eq!(normalize_label("Money movement"), "money_movement");
        assert_eq!(normalize_label(" bulk-delete "), "bulk_delete");
        assert_eq!(normalize_label("config  write"), "config_write");
        assert_eq!(normalize_label("business-hours"), "business_hours");
    }
}
