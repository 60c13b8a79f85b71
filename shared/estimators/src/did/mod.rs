//! Difference-in-differences (`DifferenceInDifferencesAnalyzer`): 2x2 and two-way fixed effects
//! with an absorbing or general 0/1 treatment, the event study with a joint pre-trend test, and
//! (in [`staggered`]) Callaway and Sant'Anna's group-time ATTs.
//!
//! # Conventions
//! Unit and time effects are absorbed by the within transformation (alternating projections).
//! Small-sample corrections follow pyfixest 0.60 / fixest's default (`ssc(k_adj=True,
//! k_fixef="nonnested", G_adj=True)`): the fixed effects count in the degrees of freedom except
//! those nested in the clusters, so clustered by unit the correction is
//! G/(G-1) · (N-1)/(N-K-T) and t has G-1 degrees of freedom.

pub mod bacon;
pub mod cr2;
pub mod honest;
pub mod honest_sd;
pub mod pretrend;
pub mod robust;
pub mod staggered;
pub mod twfe;
pub mod wild;

pub use twfe::{DidError, DidResult, DidSettings, EventStudyPoint, PanelInput};
