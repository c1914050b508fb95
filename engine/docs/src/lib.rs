//! `medallion docs --env E --out DIR`: a static site of one environment, readable from the
//! file system with no server and no network: every table (layer, owner, columns with types
//! and classification, Delta version, rows, last commit, retention), every pipeline (its
//! spec, rules with their last outcomes, a chart of rule failures over the last runs), the
//! lineage graph (table level, and column level per table and for the whole project), the
//! audit trail of the last days with its verification, and search.
//!
//! - [`collect`]: gathers the [`model::Site`] from the environment.
//! - [`site`]: writes `index.html` and `assets/` (the page script renders the data).
//! - [`graph_svg`], [`chart`]: the SVG pictures.

pub mod chart;
pub mod collect;
pub mod graph_svg;
pub mod model;
pub mod pipelines;
pub mod site;
pub mod tables;

pub use collect::{collect, Sources};
pub use site::write;
