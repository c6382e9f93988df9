//! The MPI world of data-parallel training (`mpirun -np N ferrograph
//! train …`): rsmpi on the system's OpenMPI, exposed as the training
//! engine's [`Collective`] (gradient all-reduce, broadcasts from rank 0).
//!
//! MPI is initialised with `MPI_THREAD_SERIALIZED` and every call goes
//! through one mutex, so the world may be shared between threads. An error
//! on one rank must end every rank: [`MpiWorld::abort`] calls `MPI_Abort`
//! (a plain exit would leave the other ranks blocked in a collective and
//! `MPI_Finalize` waiting for them).

use std::sync::Mutex;

use ferrograph_nn::collective::Collective;
use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// Whether this process was started by an MPI launcher (`mpirun`,
/// `mpiexec`, `srun`): OpenMPI, MPICH/PMI and Slurm set these.
pub fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|k| std::env::var_os(k).is_some())
}

/// The initialised MPI world; dropping it finalises MPI.
pub struct MpiWorld {
    world: Mutex<SimpleCommunicator>,
    rank: usize,
    size: usize,
    // Dropped last: MPI_Finalize.
    _universe: Universe,
}

// SAFETY: MPI was initialised with MPI_THREAD_SERIALIZED (checked in
// `init`) and every MPI call made through this value holds `world`'s lock,
// so no two threads are ever inside MPI at once; the communicator handle
// is a plain integer valid in every thread of the process.
unsafe impl Send for MpiWorld {}
// SAFETY: as above.
unsafe impl Sync for MpiWorld {}

/// Largest element count of one MPI call (its counts are C ints).
const CHUNK: usize = 1 << 30;

impl MpiWorld {
    /// Initialises MPI (once per process).
    pub fn init() -> Result<MpiWorld, String> {
        let (universe, threading) =
            mpi::initialize_with_threading(mpi::Threading::Serialized).ok_or_else(|| "MPI was already initialised in this process".to_string())?;
        if threading < mpi::Threading::Serialized {
            return Err(format!("the MPI library offers thread level {threading:?}; data-parallel training needs Serialized"));
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(MpiWorld { world: Mutex::new(world), rank, size, _universe: universe })
    }

    fn comm(&self) -> std::sync::MutexGuard<'_, SimpleCommunicator> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Element-wise sum over the ranks, in place, in chunks MPI's C-int
    /// counts can hold.
    fn sum<T: Equivalence + Copy>(&self, values: &mut [T]) {
        let w = self.comm();
        for chunk in values.chunks_mut(CHUNK) {
            let send = chunk.to_vec();
            w.all_reduce_into(&send[..], chunk, SystemOperation::sum());
        }
    }

    /// Ends every rank of the job with `code` (`MPI_Abort`).
    pub fn abort(&self, code: i32) -> ! {
        self.comm().abort(code)
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn sum_f32(&self, values: &mut [f32]) {
        self.sum(values)
    }

    fn sum_f64(&self, values: &mut [f64]) {
        self.sum(values)
    }

    fn broadcast(&self, bytes: &mut Vec<u8>) {
        let w = self.comm();
        let root = w.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        for chunk in bytes.chunks_mut(CHUNK) {
            root.broadcast_into(chunk);
        }
    }

    fn fail(&self, message: &str) -> ! {
        eprintln!("error: rank {} of {}: {message}", self.rank, self.size);
        self.abort(1)
    }
}
