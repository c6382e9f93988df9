//! Bounds on the work one query may ask for. A query is text from anyone, so
//! every size in it is checked before anything runs ([`Plan::check_with`],
//! [`parse_with`](crate::parse_with)), and the sizes only known at run time
//! (full neighbourhoods, subgraphs) are checked while it runs
//! ([`execute_with`](crate::execute_with)), before the step allocates.

use std::fmt::Display;

use crate::Error;
#[cfg(doc)]
use crate::Plan;

/// What one query may ask for. [`Limits::default`] suits interactive use;
/// raise a field (or use [`Limits::unlimited`] for trusted plans) to allow
/// more. An error for a limit names the column of the offending step, the
/// limit, and the field and command-line flag that raise it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `batch(n)` (default 1,000,000).
    pub max_batch: usize,
    /// Most steps after the source, a `subgraph` of `h` hops counting `h`
    /// (default 64).
    pub max_steps: usize,
    /// Largest `sample(k)` of a hop or a negative step (default 10,000).
    pub max_fanout: usize,
    /// Longest `random_walk` (default 10,000 steps).
    pub max_walk_length: usize,
    /// Most nodes one batch may produce over all its aliases (default
    /// 10,000,000). Before running, the bound is batch × the product of
    /// the fan-outs (walk lengths + 1) up to each step, summed over the steps;
    /// `full` hops and subgraphs, whose size depends on the graph, count
    /// one node per input node there and are counted exactly when they run
    /// (a subgraph's fetched neighbour ids, which bound its edges, too).
    /// Values above `u32::MAX` act as `u32::MAX` (offsets are `u32`).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_batch: 1_000_000, max_steps: 64, max_fanout: 10_000, max_walk_length: 10_000, max_nodes: 10_000_000 }
    }
}

impl Limits {
    /// No bound but what the output format can hold (`u32` offsets).
    pub const fn unlimited() -> Self {
        Limits { max_batch: usize::MAX, max_steps: usize::MAX, max_fanout: usize::MAX, max_walk_length: usize::MAX, max_nodes: usize::MAX }
    }

    /// `max_nodes` as enforced.
    pub(crate) fn nodes(&self) -> u64 {
        (self.max_nodes as u64).min(u64::from(u32::MAX))
    }
}

/// Which limit an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Batch,
    Steps,
    Fanout,
    WalkLength,
    Nodes,
}

impl Kind {
    fn field(self) -> &'static str {
        match self {
            Kind::Batch => "max_batch",
            Kind::Steps => "max_steps",
            Kind::Fanout => "max_fanout",
            Kind::WalkLength => "max_walk_length",
            Kind::Nodes => "max_nodes",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Kind::Batch => "nodes or edges per batch",
            Kind::Steps => "steps",
            Kind::Fanout => "samples per node",
            Kind::WalkLength => "steps per walk",
            Kind::Nodes => "nodes per batch",
        }
    }

    fn value(self, l: &Limits) -> u64 {
        match self {
            Kind::Batch => l.max_batch as u64,
            Kind::Steps => l.max_steps as u64,
            Kind::Fanout => l.max_fanout as u64,
            Kind::WalkLength => l.max_walk_length as u64,
            Kind::Nodes => l.nodes(),
        }
    }

    /// The error for `what` (e.g. "sample(20000) is too large") passing this limit, at `column`.
    pub(crate) fn error(self, limits: &Limits, column: usize, what: impl Display) -> Error {
        let field = self.field();
        Error::at(
            column,
            format!(
                "{what}; the limit is {} {} (raise Limits::{field}, or --{} on the command line)",
                self.value(limits),
                self.unit(),
                field.replace('_', "-")
            ),
        )
    }

    /// Whether `value` passes this limit.
    pub(crate) fn exceeded(self, limits: &Limits, value: u64) -> bool {
        value > self.value(limits)
    }
}
