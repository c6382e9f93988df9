//! Sampler outputs → the hops a model consumes.

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
    let n = offsets.len() - 1;
    if targets.len() > u32::MAX as usize {
        return Err(crate::Error::Invalid(format!(
            "{} edges are too many for one full-graph hop (at most 2^32 - 1); use mode = \"sampled\"",
            targets.len()
        )));
    }
    let offsets32: Vec<u32> = offsets.iter().map(|&o| o as u32).collect();
    Ok(Hop::sparse(Adj::new(n, n, offsets32, targets.to_vec(), None), None))
}

/// A two-hop sample in which hop-1 nodes with a fresh cached row were not
/// expanded at hop 2. Nodes are ordered seeds, computed hop-1 nodes, cached
/// hop-1 nodes, hop-2 nodes, so both blocks stay prefixes.
pub struct HistorySample {
    /// The re-ordered sample.
    pub out: ferrograph_sample::SamplerOutput,
    /// Rows the first layer computes (seeds and uncached hop-1 nodes).
    pub computed: usize,
    /// Cached rows of the remaining hop-1 nodes, in node order.
    pub cached: Vec<f32>,
    /// Lookups and hits.
    pub hits: crate::history::Hits,
}

/// Samples two hops for `seeds`, serving hop-1 nodes from `history` where
/// it holds a fresh row (see [`crate::history`]).
pub fn sample_with_history<G: ferrograph_sample::NeighborAccess + ?Sized>(
    sampler: &ferrograph_sample::NeighborSampler,
    g: &G,
    seeds: &[u32],
    seed: u64,
    history: &crate::history::History,
) -> ferrograph_sample::Result<HistorySample> {
    let mut cached = Vec::new();
    let mut cached_pos: Vec<u32> = Vec::new();
    let mut lookups = 0;
    let mut out = history.with_reader(|lookup| {
        sampler.sample_with(g, seeds, seed, &mut |h, pos, v| {
            if h != 1 {
                return true;
            }
            lookups += 1;
            if lookup(v, &mut cached) {
                cached_pos.push(pos);
                false
            } else {
                true
            }
        })
    })?;
    assert_eq!(out.num_sampled_nodes.len(), 3, "history caching needs exactly two hops");
    let (n0, n1) = (out.num_sampled_nodes[0], out.num_sampled_nodes[1]);
    let computed = n0 + n1 - cached_pos.len();
    if !cached_pos.is_empty() {
        // perm[old] = new within the hop-1 range.
        let mut perm: Vec<u32> = (0..(n0 + n1) as u32).collect();
        let mut is_cached = vec![false; n1];
        for &p in &cached_pos {
            is_cached[p as usize - n0] = true;
        }
        let mut next = n0 as u32;
        for i in n0..n0 + n1 {
            if !is_cached[i - n0] {
                perm[i] = next;
                next += 1;
            }
        }
        for &p in &cached_pos {
            perm[p as usize] = next;
            next += 1;
        }
        let map = |x: &mut u32| {
            if (*x as usize) < n0 + n1 {
                *x = perm[*x as usize];
            }
        };
        out.row.iter_mut().for_each(map);
        out.col.iter_mut().for_each(map);
        let old: Vec<u32> = out.node[n0..n0 + n1].to_vec();
        for (i, v) in old.into_iter().enumerate() {
            out.node[perm[n0 + i] as usize] = v;
        }
    }
    let hits = crate::history::Hits { hits: cached_pos.len(), lookups };
    Ok(HistorySample { out, computed, cached, hits })
}

/// The two blocks of a [`HistorySample`]: the first layer maps all nodes to
/// the `computed` rows, the second the seeds and every hop-1 node (computed,
/// then cached) to the seeds.
pub fn history_blocks(s: &HistorySample, degree: Option<Degree<'_>>) -> Vec<Hop> {
    let o = &s.out;
    let (n0, n1) = (o.num_sampled_nodes[0], o.num_sampled_nodes[1]);
    let total = o.node.len();
    let degrees = |n_dst: usize, n_src: usize| {
        degree.map(|d| (o.node[..n_dst].iter().map(|&v| d(v)).collect(), o.node[..n_src].iter().map(|&v| d(v)).collect()))
    };
    let first = Adj::from_edges(s.computed, total, &o.col, &o.row, None);
    let m = o.num_sampled_edges[0];
    let second = Adj::from_edges(n0, n0 + n1, &o.col[..m], &o.row[..m], None);
    vec![Hop::sparse(first, degrees(s.computed, total)), Hop::sparse(second, degrees(n0, n0 + n1))]
}
