//! A prefetching loader: batches are produced on background threads into a
//! bounded queue while the caller consumes them, in order.

use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::Result;

/// What the consumer waited for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoaderStats {
    /// Batches consumed.
    pub batches: usize,
    /// Time the consumer spent blocked waiting for the next batch.
    pub waiting: Duration,
    /// Total time of the loop.
    pub total: Duration,
}

/// Produces batches `0..n` with `make` (up to `depth` at a time, in
/// parallel on the rayon pool, on a producer thread) and hands them to
/// `consume` in order. Returns when all are consumed or either side fails;
/// the first error is returned.
pub fn for_each_prefetched<T, F, C>(n: usize, depth: usize, make: F, mut consume: C) -> Result<LoaderStats>
where
    T: Send,
    F: Fn(usize) -> Result<T> + Sync,
    C: FnMut(usize, T) -> Result<()>,
{
    let depth = depth.max(1);
    let start = Instant::now();
    let (tx, rx) = sync_channel::<Result<T>>(depth);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut first = 0;
            while first < n {
                let last = (first + depth).min(n);
                let made: Vec<Result<T>> = (first..last).into_par_iter().map(&make).collect();
                for m in made {
                    if tx.send(m).is_err() {
                        return; // the consumer stopped
                    }
                }
                first = last;
            }
        });
        // Owned here so that leaving early (a consumer error) drops the
        // receiver, which unblocks and ends the producer before the join.
        let rx = rx;
        let mut stats = LoaderStats::default();
        for i in 0..n {
            let t = Instant::now();
            let Ok(next) = rx.recv() else { break };
            stats.waiting += t.elapsed();
            consume(i, next?)?;
            stats.batches += 1;
        }
        drop(rx);
        stats.total = start.elapsed();
        Ok(stats)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_arrive_in_order_and_errors_stop_the_loop() {
        let mut seen = Vec::new();
        let s = for_each_prefetched(
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
        let r = for_each_prefetched(
            10,
            2,
            |i| {
                if i == 4 { Err(crate::Error::Invalid("boom".into())) } else { Ok(i) }
            },
            |_, _| Ok(()),
        );
        assert!(r.unwrap_err().to_string().contains("boom"));
        // a consumer that fails while the producer is blocked on a full queue
        let r = for_each_prefetched(100, 1, Ok, |i, _| if i == 2 { Err(crate::Error::Invalid("stop".into())) } else { Ok(()) });
        assert!(r.unwrap_err().to_string().contains("stop"));
    }
}
