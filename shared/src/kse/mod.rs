//! The knowledge semantic engine: the marketing ontology ([`ontology`]), an org's causal knowledge
//! graph whose every edge carries its evidence ([`graph`]), and search that answers with causal
//! paths or says there is no evidence ([`search`]). The use cases (build, store, search) are in
//! `service::kse`.

pub mod graph;
pub mod ontology;
pub mod profile;
pub mod search;
pub mod text;
