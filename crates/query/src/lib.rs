//! The Gremlin-like sampling language of AliGraph, as a typed Rust builder
//! ([`Query`]) and as text parsed once ([`parse`]) into the same [`Plan`]:
//!
//! ```text
//! g.V("paper").batch(512).shuffle().alias("seed")
//!  .outV("cites").sample(15).by("random").alias("hop1")
//!  .outV("cites").sample(10).by("random").alias("hop2").values()
//! g.E("buy").batch(256).alias("e").outV().alias("src")
//!  .outNeg("buy").sample(5).by("in_degree").alias("neg").values()
//! ```
//! A plan is checked against a graph's schema ([`Plan::check`]) before it
//! runs ([`execute`]); every error says where (the column in the text) and,
//! for names, what was probably meant.
//!
//! Query text may come from anyone: parsing never panics, and every size a
//! query asks for (batch, steps, fan-outs, walk lengths, nodes per batch) is
//! bounded by [`Limits`] before it runs and while it runs. `parse`, `check`
//! and `execute` use [`Limits::default`]; [`parse_with`],
//! [`Plan::check_with`] and [`execute_with`] take the limits.
#![warn(missing_docs)]

mod exec;
mod limits;
mod parse;
mod plan;

pub use exec::{AliasResult, PlanBatches, QueryResult, SourceBatch, batch_seed, execute, execute_batch, execute_over, execute_with};
pub use limits::Limits;
pub use parse::{parse, parse_with};
pub use plan::{Columns, Plan, Query, Source, Step, StepColumns, StrategyName};

/// A problem with a query, at a column of its text (1-based; 0 when the
/// plan came from the builder).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if *column > 0 { format!("column {column}: ") } else { String::new() })]
pub struct Error {
    /// 1-based column in the query text, 0 for builder plans.
    pub column: usize,
    /// What is wrong, with a suggestion where one exists.
    pub message: String,
}

impl Error {
    pub(crate) fn at(column: usize, message: impl Into<String>) -> Self {
        Error { column, message: message.into() }
    }
}

/// Result alias of the query crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
