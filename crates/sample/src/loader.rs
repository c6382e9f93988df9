//! A prefetching loader (the training run loop's): batches are prepared one
//! by one (each with the rayon pool's help), up to `depth` ahead, on a
//! producer thread, while the
//! caller consumes them in order. With one worker thread (`--threads 1`) or
//! `depth = 0` batches are made inline instead, so a one-thread run uses one
//! core. Generic over the error type, so any caller's batch errors pass
//! through unchanged.

use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

/// What the consumer waited for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoaderStats {
    /// Batches consumed.
    pub batches: usize,
    /// Time the consumer spent waiting for the next batch (inline: the
    /// time spent making it).
    pub waiting: Duration,
    /// The most batches that were ready and not yet consumed at once.
    pub max_ready: usize,
}

/// Makes batches `0..n` with `make` and hands them to `consume` in order.
/// Stops at the first error of either side and returns it; a consumer
/// error drops the queue, which ends the producer before this returns.
pub fn for_each<T, E, F, C>(n: usize, depth: usize, make: F, mut consume: C) -> Result<LoaderStats, E>
where
    T: Send,
    E: Send,
    F: Fn(usize) -> Result<T, E> + Sync,
    C: FnMut(usize, T) -> Result<(), E>,
{
    let mut stats = LoaderStats::default();
    if rayon::current_num_threads() <= 1 || depth == 0 {
        for i in 0..n {
            let t = Instant::now();
            let b = make(i)?;
            stats.waiting += t.elapsed();
            consume(i, b)?;
            stats.batches += 1;
        }
        return Ok(stats);
    }
    let (tx, rx) = sync_channel::<(usize, Result<T, E>)>(depth);
    let ready = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let ready = &ready;
        let make = &make;
        // One batch at a time: each batch's own kernels are parallel and
        // finely cut, so the consumer's kernels interleave with them on the
        // pool. (Making `depth` batches at once as whole pool jobs kept
        // both workers busy for milliseconds while the step's kernels
        // waited behind them.)
        scope.spawn(move || {
            for i in 0..n {
                let m = make(i);
                let queued = ready.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if tx.send((queued, m)).is_err() {
                    return; // the consumer stopped
                }
            }
        });
        // Owned here so that leaving early drops the receiver, which
        // unblocks and ends the producer before the scope joins it.
        let rx = rx;
        for i in 0..n {
            let t = Instant::now();
            let Ok((queued, next)) = rx.recv() else { break };
            stats.waiting += t.elapsed();
            stats.max_ready = stats.max_ready.max(queued - i);
            consume(i, next?)?;
            stats.batches += 1;
        }
        Ok(stats)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_arrive_in_order_and_errors_stop_the_loop() {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut seen = Vec::new();
                let s = for_each::<_, String, _, _>(
                    10,
                    3,
                    |i| Ok(i * i),
                    |i, v| {
                        seen.push((i, v));
                        Ok(())
                    },
                )
                .unwrap();
                assert_eq!(s.batches, 10);
                assert_eq!(seen, (0..10).map(|i| (i, i * i)).collect::<Vec<_>>());
                let r = for_each(10, 2, |i| if i == 4 { Err("boom".to_string()) } else { Ok(i) }, |_, _| Ok(()));
                assert_eq!(r.unwrap_err(), "boom");
                // a consumer that fails while the producer is blocked on a full queue
                let r = for_each(100, 1, Ok::<usize, String>, |i, _| if i == 2 { Err("stop".to_string()) } else { Ok(()) });
                assert_eq!(r.unwrap_err(), "stop");
            });
        }
    }
}
