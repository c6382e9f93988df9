//! A small progress-reporting hook so that library code can drive the CLI's
//! progress bars without depending on a terminal crate.

/// Something that shows progress of long steps (the CLI implements it with indicatif).
pub trait Progress: Sync {
    /// Starts a step named `name` with `total` units (bytes, rows, edges), 0 if unknown.
    fn start(&self, name: &str, total: u64) -> Box<dyn Step + '_>;
}

/// One running step; dropped when the step ends.
pub trait Step: Sync {
    /// Adds `n` units done.
    fn inc(&self, n: u64);
}

/// Progress that shows nothing (library use, tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

struct NoStep;

impl Step for NoStep {
    fn inc(&self, _: u64) {}
}

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) -> Box<dyn Step + '_> {
        Box::new(NoStep)
    }
}
