//! TRAVERSE: batches of nodes of a type (optionally only a named node set
//! such as `train`) or of edges of a type, in order or shuffled per epoch,
//! with a clean end of epoch (the iterator ends) and optional drop-last.

use ferrograph_graph::{Direction, EdgeTypeId, Graph};

use crate::rng::{SplitMix, derive};
use crate::{Error, Result};

/// Shuffled or ordered batches over a fixed list of items.
#[derive(Clone, Debug)]
pub struct Batches {
    items: Vec<u32>,
    batch: usize,
    shuffle: bool,
    drop_last: bool,
    seed: u64,
}

impl Batches {
    /// Batches of `batch` items of `items`.
    pub fn new(items: Vec<u32>, batch: usize, shuffle: bool, drop_last: bool, seed: u64) -> Result<Self> {
        if batch == 0 {
            return Err(Error::Invalid("batch size must be at least 1".into()));
        }
        Ok(Batches { items, batch, shuffle, drop_last, seed })
    }

    /// Batches of the nodes of type `node_type`, or of its node set `set`.
    pub fn nodes(g: &Graph, node_type: &str, set: Option<&str>, batch: usize, shuffle: bool, drop_last: bool, seed: u64) -> Result<Self> {
        let t = g.schema().node_type(node_type)?;
        let items = match set {
            Some(s) => g.node_set(t, s)?.to_vec(),
            None => (0..g.node_count(t) as u32).collect(),
        };
        Batches::new(items, batch, shuffle, drop_last, seed)
    }

    /// Number of batches in one epoch.
    pub fn per_epoch(&self) -> usize {
        if self.drop_last { self.items.len() / self.batch } else { self.items.len().div_ceil(self.batch) }
    }

    /// The batches of epoch `epoch` (shuffled with `derive(seed, epoch)`); the
    /// iterator ending is the end of the epoch.
    pub fn epoch(&self, epoch: u64) -> impl Iterator<Item = Vec<u32>> + '_ {
        let mut order = self.items.clone();
        if self.shuffle {
            SplitMix::new(derive(self.seed, epoch)).shuffle(&mut order);
        }
        let n = self.per_epoch();
        let batch = self.batch;
        (0..n).map(move |b| order[b * batch..((b + 1) * batch).min(order.len())].to_vec())
    }
}

/// A batch of edges: endpoints and out-positions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeBatch {
    /// Source local indices.
    pub src: Vec<u32>,
    /// Destination local indices.
    pub dst: Vec<u32>,
    /// Out-positions (edge ids, aligned with edge attributes).
    pub pos: Vec<u64>,
}

/// Batches of the edges of one type.
#[derive(Clone, Debug)]
pub struct EdgeBatches {
    edge_type: EdgeTypeId,
    positions: Batches,
}

impl EdgeBatches {
    /// Batches over every stored edge of `relation`.
    pub fn new(g: &Graph, relation: &str, batch: usize, shuffle: bool, drop_last: bool, seed: u64) -> Result<Self> {
        let (edge_type, dir) = g.schema().relation(relation)?;
        if dir != Direction::Out {
            return Err(Error::Invalid(format!("traverse edges by their relation name, not the reverse `{relation}`")));
        }
        // Checked once here: `epoch` reads sources and targets by position.
        let n = g.checked_topology(edge_type, Direction::Out)?.len();
        let n = u32::try_from(n).map_err(|_| Error::Invalid("too many edges to traverse".into()))?;
        Ok(EdgeBatches { edge_type, positions: Batches::new((0..n).collect(), batch, shuffle, drop_last, seed)? })
    }

    /// Number of batches in one epoch.
    pub fn per_epoch(&self) -> usize {
        self.positions.per_epoch()
    }

    /// The batches of epoch `epoch`.
    pub fn epoch<'a>(&'a self, g: &'a Graph, epoch: u64) -> impl Iterator<Item = EdgeBatch> + 'a {
        let csr = &g.edges(self.edge_type).out;
        let off = csr.offsets.as_slice();
        let tgt = csr.targets.as_slice();
        self.positions.epoch(epoch).map(move |ps| {
            let mut b = EdgeBatch::default();
            for p in ps {
                let p = u64::from(p);
                b.src.push((off.partition_point(|&o| o <= p) - 1) as u32);
                b.dst.push(tgt[p as usize]);
                b.pos.push(p);
            }
            b
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_cover_every_item_once_and_reshuffle() {
        let b = Batches::new((0..10).collect(), 3, true, false, 7).unwrap();
        assert_eq!(b.per_epoch(), 4);
        let e0: Vec<Vec<u32>> = b.epoch(0).collect();
        let mut all: Vec<u32> = e0.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(e0.last().unwrap().len(), 1);
        assert_ne!(e0, b.epoch(1).collect::<Vec<_>>(), "a new order each epoch");
        assert_eq!(e0, b.epoch(0).collect::<Vec<_>>(), "deterministic");
        let d = Batches::new((0..10).collect(), 3, false, true, 0).unwrap();
        assert_eq!(d.epoch(0).collect::<Vec<_>>(), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8]]);
    }
}
