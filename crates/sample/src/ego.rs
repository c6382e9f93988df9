//! Dense "ego" output: fixed fan-out index tensors with padding masks, for
//! dense aggregation (graph-learn's layered output).
//!
//! Invariants: `layers[0]` is the batch; `layers[h + 1].len() ==
//! layers[h].len() * fanouts[h]`, and slot `i * k + j` of layer `h + 1` is
//! the `j`-th neighbour drawn for slot `i` of layer `h`. A slot whose mask is
//! `false` is padding: its index is 0 and must not be read as a node (a
//! padded parent has only padded children), so padding never leaks into a
//! mean or a softmax when the mask is applied.

use crate::access::{NeighborAccess, Relation, Sampled, Strategy};
use crate::rng::derive;
use crate::{Error, Result};

/// What fills the slots of a node with fewer neighbours than the fan-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Index 0 with mask `false`.
    Mask,
    /// The sampled neighbours repeated in order (mask `true`); nodes with no
    /// neighbour at all are still masked.
    Repeat,
}

/// Layered, fixed-size sample of one batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgoOutput {
    /// Node indices per layer (`[batch]`, `[batch·k1]`, `[batch·k1·k2]`, …).
    pub layers: Vec<Vec<u32>>,
    /// Validity of each slot, aligned with `layers`.
    pub masks: Vec<Vec<bool>>,
}

/// Samples fixed fan-outs along `hops` for `seeds`.
pub fn sample_ego<G: NeighborAccess + ?Sized>(
    g: &G,
    hops: &[(Relation, usize)],
    strategy: Strategy,
    padding: Padding,
    seeds: &[u32],
    seed: u64,
) -> Result<EgoOutput> {
    if hops.iter().any(|&(_, k)| k == 0) {
        return Err(Error::Invalid("ego fan-outs must be at least 1".into()));
    }
    let mut out = EgoOutput { layers: vec![seeds.to_vec()], masks: vec![vec![true; seeds.len()]] };
    let mut sampled = Sampled::default();
    for (h, &(rel, k)) in hops.iter().enumerate() {
        let (prev, prev_mask) = (&out.layers[h], &out.masks[h]);
        let valid: Vec<u32> = prev.iter().zip(prev_mask).filter(|(_, m)| **m).map(|(&n, _)| n).collect();
        sampled.clear();
        g.sample_neighbors(rel, &valid, k, strategy, derive(seed, h as u64), &mut sampled)?;
        let mut layer = vec![0u32; prev.len() * k];
        let mut mask = vec![false; prev.len() * k];
        let mut v = 0;
        for (i, &m) in prev_mask.iter().enumerate() {
            if !m {
                continue;
            }
            let got = &sampled.neighbors[sampled.offsets[v] as usize..sampled.offsets[v + 1] as usize];
            v += 1;
            for j in 0..k {
                let slot = i * k + j;
                if j < got.len() {
                    layer[slot] = got[j];
                    mask[slot] = true;
                } else if padding == Padding::Repeat && !got.is_empty() {
                    layer[slot] = got[j % got.len()];
                    mask[slot] = true;
                }
            }
        }
        out.layers.push(layer);
        out.masks.push(mask);
    }
    Ok(out)
}
