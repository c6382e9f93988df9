//! Sampler outputs → the hops a model consumes: message-flow blocks,
//! dense ego hops, and a whole graph as one hop.

use ferrograph_sample::SamplerOutput;
use ferrograph_sample::ego::EgoOutput;

use crate::hop::Hop;
use crate::ops::Adj;

/// Per-node degree (for GCN normalisation on sampled hops).
pub type Degree<'a> = &'a (dyn Fn(u32) -> f32 + Sync);

/// Message-flow blocks of an `layers`-layer model from a multi-hop sample,
/// first-applied layer first: layer `l` maps the first
/// `Σ nodes[..=L-l]` nodes to the first `Σ nodes[..L-l]`, over the edges
/// of hops `1..=L-l` (edges are stored hop by hop, destinations before
/// sources, so each block is a prefix of nodes and edges).
pub fn blocks(out: &SamplerOutput, layers: usize, degree: Option<Degree<'_>>) -> Vec<Hop> {
    assert_eq!(out.num_sampled_nodes.len(), layers + 1, "one sampler hop per layer");
    let mut prefix = vec![0usize; layers + 2];
    for h in 0..=layers {
        prefix[h + 1] = prefix[h] + out.num_sampled_nodes[h];
    }
    let mut edge_prefix = vec![0usize; layers + 1];
    for h in 0..layers {
        edge_prefix[h + 1] = edge_prefix[h] + out.num_sampled_edges[h];
    }
    (0..layers)
        .map(|l| {
            let hops = layers - l;
            let (n_dst, n_src, m) = (prefix[hops], prefix[hops + 1], edge_prefix[hops]);
            let adj = Adj::from_edges(n_dst, n_src, &out.col[..m], &out.row[..m], None);
            let degrees = degree.map(|d| {
                let dst = out.node[..n_dst].iter().map(|&v| d(v)).collect();
                let src = out.node[..n_src].iter().map(|&v| d(v)).collect();
                (dst, src)
            });
            Hop::sparse(adj, degrees)
        })
        .collect()
}

/// Dense hops of an ego sample, by depth: hop `t` maps layer `t + 1`'s
/// slots onto layer `t`'s.
pub fn ego_hops(ego: &EgoOutput, degree: Option<Degree<'_>>) -> Vec<Hop> {
    (0..ego.layers.len() - 1)
        .map(|t| {
            let n_dst = ego.layers[t].len();
            let k = ego.layers[t + 1].len() / n_dst.max(1);
            let degrees = degree.map(|d| (ego.layers[t].iter().map(|&v| d(v)).collect(), ego.layers[t + 1].iter().map(|&v| d(v)).collect()));
            Hop::dense(n_dst, k, ego.masks[t + 1].clone(), degrees)
        })
        .collect()
}

/// A hop over a whole graph given as CSR rows (`offsets`, `targets`): every
/// node is a destination and a source.
pub fn full_hop(offsets: &[u64], targets: &[u32]) -> crate::Result<Hop> {
    let n = offsets.len().saturating_sub(1);
    if targets.len() > u32::MAX as usize {
        return Err(crate::Error::Input(format!(
            "{} edges are too many for one full-graph hop (at most 2^32 - 1); use mode = \"sampled\"",
            targets.len()
        )));
    }
    let offsets32: Vec<u32> = offsets.iter().map(|&o| o as u32).collect();
    Ok(Hop::sparse(Adj::new(n, n, offsets32, targets.to_vec(), None), None))
}
