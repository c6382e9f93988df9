//! The collective operations data-parallel training needs, as a trait the
//! training engine calls and a communication library implements
//! (`ferrograph-dist`'s MPI world): every rank takes the same steps on its
//! share of a batch and sums the gradients with [`Collective::sum_f32`]
//! before the update, so all ranks hold the same weights.
//!
//! Every method is collective: all ranks call it, in the same order, with
//! buffers of the same length.

/// A group of ranks training one model.
pub trait Collective: Send + Sync {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;
    /// Ranks in the group.
    fn size(&self) -> usize;
    /// Element-wise sum over ranks, in place (gradients).
    fn sum_f32(&self, values: &mut [f32]);
    /// Element-wise sum over ranks, in place (step statistics).
    fn sum_f64(&self, values: &mut [f64]);
    /// Rank 0's bytes to every rank (initial weights, loop state, metrics):
    /// on return `bytes` holds rank 0's value everywhere.
    fn broadcast(&self, bytes: &mut Vec<u8>);
    /// Ends the whole group after an error on this rank (a rank that just
    /// returned would leave the others waiting in a collective).
    fn fail(&self, message: &str) -> ! {
        eprintln!("error: {message}");
        std::process::exit(1)
    }
}

/// A group of one: every operation is the identity.
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&self, _: &mut [f32]) {}
    fn sum_f64(&self, _: &mut [f64]) {}
    fn broadcast(&self, _: &mut Vec<u8>) {}
}
