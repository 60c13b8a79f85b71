//! The causal marketing domain: records, experiments, confounders, users, date ranges.
//! Every constructor or `validate` rejects bad values with an error naming the field.

pub mod audit;
pub mod confounder;
pub mod date_range;
pub mod error;
pub mod experiment;
pub mod ids;
pub mod job;
pub mod platform;
pub mod record;
pub mod user;

pub use audit::{AuditEntry, AuditOutcome};
pub use confounder::{ConfounderVariable, TemporalPattern, VariableType};
pub use date_range::DateRange;
pub use error::{FieldError, ValidationError, Validator};
pub use experiment::{CausalExperiment, ExperimentStatus, NewExperiment, RandomizationUnit};
pub use ids::{check_id, OrgId};
pub use job::{AnalysisJob, JobError, JobStatus};
pub use platform::Platform;
pub use record::{
    CausalEdge, CausalGraph, CausalMarketingData, Confounder, ExternalFactor, Metrics, NewCausalRecord,
    TreatmentAssignment, TreatmentGroup,
};
pub use user::{permissions, UserContext};
