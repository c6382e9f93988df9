//! Statistical checks of the samplers (fixed seeds; chi-square thresholds at
//! p = 0.001, so a wrong distribution fails and a right one passes with
//! certainty for these seeds).

use ferrograph_graph::column::Column;
use ferrograph_graph::idmap::NodeIds;
use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_graph::{AttrKind, AttrSchema, EdgeStore, EdgeTypeSchema, Graph, IdKind, NodeStore, NodeTypeSchema, Schema};
use ferrograph_sample::negative::{NegativeSampler, NegativeStrategy};
use ferrograph_sample::neighbor::HopSpec;
use ferrograph_sample::walk::{PAD, Walker};
use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};

/// Node types `types` (name, count); edge types (src, rel, dst, edges, weights, undirected).
type EdgeSpec<'a> = (&'a str, &'a str, &'a str, Vec<(u32, u32)>, Option<Vec<f32>>, bool);

fn graph(types: &[(&str, usize)], edges: Vec<EdgeSpec<'_>>) -> Graph {
    let count = |name: &str| types.iter().find(|t| t.0 == name).unwrap().1;
    let mut schemas = Vec::new();
    let mut stores = Vec::new();
    for (src, rel, dst, list, weights, undirected) in edges {
        let (s, d): (Vec<u32>, Vec<u32>) = list.iter().copied().unzip();
        let b = build_topology(count(src), count(dst), s, d, BuildOptions { undirected, dedup: false, edge_ids: weights.is_some() }).unwrap();
        let (attributes, columns) = match weights {
            Some(w) => (
                vec![AttrSchema { name: "weight".into(), kind: AttrKind::Float }],
                vec![Column::Float(w.into()).permute(b.input_edge.as_ref().unwrap())],
            ),
            None => (vec![], vec![]),
        };
        schemas.push(EdgeTypeSchema {
            relation: rel.into(),
            src: src.into(),
            dst: dst.into(),
            reverse: format!("rev_{rel}"),
            undirected,
            attributes,
        });
        stores.push(EdgeStore { out: b.out, inn: b.inn, columns, self_loops: b.self_loops });
    }
    let schema = Schema {
        node_types: types
            .iter()
            .map(|(n, _)| NodeTypeSchema { name: n.to_string(), id_kind: IdKind::Dense, attributes: vec![], sets: vec![] })
            .collect(),
        edge_types: schemas,
    };
    let nodes = types.iter().map(|(_, c)| NodeStore { ids: NodeIds::Dense(*c as u32), columns: vec![], sets: vec![] }).collect();
    Graph::from_parts(schema, nodes, stores).unwrap()
}

fn chi2(observed: &[f64], expected: &[f64]) -> f64 {
    observed.iter().zip(expected).map(|(o, e)| (o - e).powi(2) / e).sum()
}

/// p = 0.001 critical values of chi-square by degrees of freedom.
fn critical(dof: usize) -> f64 {
    [0.0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88][dof]
}

fn one_hop(g: &Graph, rel: &str, seeds: &[u32], k: usize, strategy: Strategy, seed: u64) -> Vec<u32> {
    let lg = LocalGraph::new(g);
    let s = NeighborSampler::new(vec![HopSpec { relation: Relation::resolve(g, rel).unwrap(), fanout: k }], strategy).unwrap();
    let out = s.sample(&lg, seeds, seed).unwrap();
    out.row.iter().map(|&r| out.node[r as usize]).collect()
}

#[test]
fn random_with_replacement_is_uniform() {
    let g = graph(&[("n", 7)], vec![("n", "e", "n", (1..7).map(|v| (0, v)).collect(), None, false)]);
    let mut counts = [0f64; 7];
    for t in 0..300 {
        for v in one_hop(&g, "e", &[0], 100, Strategy::Random, t) {
            counts[v as usize] += 1.0;
        }
    }
    let x = chi2(&counts[1..], &[5000.0; 6]);
    assert!(x < critical(5), "chi-square {x}");
}

#[test]
fn edge_weight_draws_in_proportion_to_weight() {
    let w = vec![1.0, 2.0, 3.0, 4.0, 5.0];
    let g = graph(&[("n", 6)], vec![("n", "e", "n", (1..6).map(|v| (0, v)).collect(), Some(w.clone()), false)]);
    let mut counts = [0f64; 6];
    let trials = 600;
    for t in 0..trials {
        for v in one_hop(&g, "e", &[0], 50, Strategy::EdgeWeight, t) {
            counts[v as usize] += 1.0;
        }
    }
    let n = (trials * 50) as f64;
    let expected: Vec<f64> = w.iter().map(|x| n * f64::from(*x) / 15.0).collect();
    let x = chi2(&counts[1..], &expected);
    assert!(x < critical(4), "chi-square {x}: {counts:?}");
    // and through the reverse relation (the in→out edge map carries the weights)
    let back = one_hop(&g, "rev_e", &[5], 10, Strategy::EdgeWeight, 1);
    assert_eq!(back, vec![0; 10]);
}

#[test]
fn topk_is_exact_with_ties_to_the_smaller_neighbour() {
    let g = graph(&[("n", 6)], vec![("n", "e", "n", (1..6).map(|v| (0, v)).collect(), Some(vec![3.0, 9.0, 1.0, 9.0, 5.0]), false)]);
    assert_eq!(one_hop(&g, "e", &[0], 3, Strategy::TopK, 0), vec![2, 4, 5]);
    assert_eq!(one_hop(&g, "e", &[0], 10, Strategy::TopK, 0), vec![2, 4, 5, 1, 3]);
}

#[test]
fn weighted_strategies_refuse_unweighted_edges() {
    let g = graph(&[("n", 2)], vec![("n", "e", "n", vec![(0, 1)], None, false)]);
    let lg = LocalGraph::new(&g);
    let s = NeighborSampler::new(vec![HopSpec { relation: Relation::resolve(&g, "e").unwrap(), fanout: 1 }], Strategy::EdgeWeight).unwrap();
    let e = s.sample(&lg, &[0], 0).unwrap_err().to_string();
    assert!(e.contains("no float `weight`"), "{e}");
}

#[test]
fn in_degree_negatives_follow_degree_to_the_075() {
    // destinations 1..=5 have in-degrees 1, 2, 4, 8, 16; node 0 has none.
    let mut edges = Vec::new();
    for (v, d) in [(1u32, 1u32), (2, 2), (3, 4), (4, 8), (5, 16)] {
        for s in 0..d {
            edges.push((6 + s, v));
        }
    }
    let g = graph(&[("n", 22)], vec![("n", "e", "n", edges, None, false)]);
    let lg = LocalGraph::new(&g);
    let neg = NegativeSampler::new(&lg, Relation::resolve(&g, "e").unwrap(), NegativeStrategy::InDegree, false).unwrap();
    let draws = neg.sample(&(0..2000).map(|i| 6 + i % 16).collect::<Vec<u32>>(), 20, 3).unwrap();
    let mut counts = [0f64; 6];
    for v in draws {
        assert!((1..=5).contains(&v), "node {v} has in-degree 0");
        counts[v as usize] += 1.0;
    }
    let w: Vec<f64> = [1f64, 2., 4., 8., 16.].iter().map(|d| d.powf(0.75)).collect();
    let total: f64 = w.iter().sum();
    let expected: Vec<f64> = w.iter().map(|x| 40_000.0 * x / total).collect();
    let x = chi2(&counts[1..], &expected);
    assert!(x < critical(4), "chi-square {x}: {counts:?}");
}

#[test]
fn strict_negatives_are_never_neighbours() {
    // node 0 links to 90 of 100 nodes
    let g = graph(&[("n", 100)], vec![("n", "e", "n", (1..91).map(|v| (0, v)).collect(), None, false)]);
    let lg = LocalGraph::new(&g);
    let rel = Relation::resolve(&g, "e").unwrap();
    let neg = NegativeSampler::new(&lg, rel, NegativeStrategy::Random, true).unwrap();
    let draws = neg.sample(&[0; 200], 10, 9).unwrap();
    assert!(draws.iter().all(|&v| v == 0 || v > 90), "a true neighbour was returned");
    let loose = NegativeSampler::new(&lg, rel, NegativeStrategy::Random, false).unwrap().sample(&[0; 200], 10, 9).unwrap();
    assert!(loose.iter().any(|&v| (1..=90).contains(&v)), "the non-strict sampler does draw neighbours");
    // impossible strictness is an error, not a hang
    let full = graph(&[("n", 3)], vec![("n", "e", "n", vec![(0, 0), (0, 1), (0, 2)], None, false)]);
    let lg = LocalGraph::new(&full);
    let e = NegativeSampler::new(&lg, Relation::resolve(&full, "e").unwrap(), NegativeStrategy::Random, true).unwrap().sample(&[0], 1, 0);
    assert!(e.unwrap_err().to_string().contains("no strict negative"));
}

#[test]
fn node2vec_matches_exact_transition_probabilities() {
    // undirected: 0-1, 0-2, 1-2, 1-3, 1-4
    let g = graph(&[("n", 5)], vec![("n", "e", "n", vec![(0, 1), (0, 2), (1, 2), (1, 3), (1, 4)], None, true)]);
    let lg = LocalGraph::new(&g);
    let (p, q) = (0.5, 2.0);
    let w = Walker::node2vec(Relation::resolve(&g, "e").unwrap(), 2, p, q).unwrap();
    let walks = w.walks(&lg, &vec![0; 40_000], 11).unwrap();
    let (mut first, mut second) = ([0f64; 5], [0f64; 5]);
    for walk in walks.chunks(3) {
        first[walk[1] as usize] += 1.0;
        if walk[1] == 1 {
            second[walk[2] as usize] += 1.0;
        }
    }
    // first order: uniform over N(0) = {1, 2}
    assert!(chi2(&first[1..3], &[20_000.0, 20_000.0]) < critical(1), "{first:?}");
    // second order from 0 -> 1 over N(1) = {0, 2, 3, 4}: 1/p (return), 1 (2 is also a neighbour of 0), 1/q, 1/q
    let n: f64 = second.iter().sum();
    let wts = [1.0 / p, 1.0, 1.0 / q, 1.0 / q];
    let tot: f64 = wts.iter().sum();
    let expected: Vec<f64> = wts.iter().map(|x| n * x / tot).collect();
    let observed = [second[0], second[2], second[3], second[4]];
    let x = chi2(&observed, &expected);
    assert!(x < critical(3), "chi-square {x}: {observed:?} vs {expected:?}");
}

#[test]
fn node2vec_second_order_steps_are_exact_in_every_regime() {
    // (edges (undirected), p, q, expected weights of the second step from 0 -> 1 over N(1) in order)
    // The thresholds w / max(1/p, 1, 1/q) put candidates in every verdict class; the last case
    // (q tiny, no outward neighbour of 1) accepts almost nothing in 64 candidates, so nearly every
    // walk takes the exact full-row fallback.
    let diamond = vec![(0, 1), (0, 2), (1, 2), (1, 3), (1, 4)];
    let clique = vec![(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)];
    type Case = (Vec<(u32, u32)>, f64, f64, [f64; 4]);
    let cases: Vec<Case> = vec![
        // N(1) = {0, 2, 3, 4}: 0 back, 2 common, 3 and 4 outward
        (diamond.clone(), 2.0, 0.25, [0.5, 1.0, 4.0, 4.0]),
        (diamond.clone(), 1.0, 0.5, [1.0, 1.0, 2.0, 2.0]),
        (diamond, 0.01, 3.0, [100.0, 1.0, 1.0 / 3.0, 1.0 / 3.0]),
        // N(1) = {0, 2, 3, 4}, all of 2, 3, 4 neighbours of 0
        (clique, 0.5, 1e-4, [2.0, 1.0, 1.0, 1.0]),
    ];
    for (edges, p, q, wts) in cases {
        let g = graph(&[("n", 5)], vec![("n", "e", "n", edges, None, true)]);
        let lg = LocalGraph::new(&g);
        let w = Walker::node2vec(Relation::resolve(&g, "e").unwrap(), 2, p, q).unwrap();
        let walks = w.walks(&lg, &vec![0; 40_000], 5).unwrap();
        let mut second = [0f64; 5];
        for walk in walks.chunks(3) {
            if walk[1] == 1 {
                second[walk[2] as usize] += 1.0;
            }
        }
        let n: f64 = second.iter().sum();
        let tot: f64 = wts.iter().sum();
        let expected: Vec<f64> = wts.iter().map(|x| n * x / tot).collect();
        let observed = [second[0], second[2], second[3], second[4]];
        let x = chi2(&observed, &expected);
        assert!(x < critical(3), "p = {p}, q = {q}: chi-square {x}: {observed:?} vs {expected:?}");
    }
}

#[test]
fn metapath_walks_follow_the_types_and_stop_at_dead_ends() {
    // papers 0..4, authors 0..3; paper 3 has no author
    let pa = vec![(0, 0), (0, 1), (1, 1), (2, 2), (1, 2)];
    let g = graph(&[("paper", 4), ("author", 3)], vec![("paper", "written_by", "author", pa.clone(), None, false)]);
    let lg = LocalGraph::new(&g);
    let rels = vec![Relation::resolve(&g, "written_by").unwrap(), Relation::resolve(&g, "rev_written_by").unwrap()];
    let w = Walker::metapath(rels, 6).unwrap();
    let walks = w.walks(&lg, &[0, 1, 2, 3], 4).unwrap();
    for walk in walks.chunks(7) {
        for (step, pair) in walk.windows(2).enumerate() {
            if pair[1] == PAD {
                break;
            }
            let edge = if step % 2 == 0 { (pair[0], pair[1]) } else { (pair[1], pair[0]) };
            assert!(pa.contains(&edge), "step {step} of {walk:?} is not a paper–author edge");
        }
    }
    assert_eq!(&walks[21..28], &[3, PAD, PAD, PAD, PAD, PAD, PAD], "paper 3 has no author");
    // a metapath whose types do not chain is refused
    let bad = vec![Relation::resolve(&g, "written_by").unwrap(), Relation::resolve(&g, "written_by").unwrap()];
    assert!(Walker::metapath(bad, 4).is_err());
}

#[test]
fn walks_are_identical_for_any_thread_count() {
    let mut x = 5u64;
    let edges: Vec<(u32, u32)> = (0..5000)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            (((x >> 33) % 500) as u32, ((x >> 13) % 500) as u32)
        })
        .collect();
    let g = graph(&[("n", 500)], vec![("n", "e", "n", edges, None, true)]);
    let lg = LocalGraph::new(&g);
    let w = Walker::node2vec(Relation::resolve(&g, "e").unwrap(), 20, 0.25, 4.0).unwrap();
    let starts: Vec<u32> = (0..500).collect();
    let run = |t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap().install(|| w.walks(&lg, &starts, 1).unwrap());
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(8));
}

#[test]
fn temporal_sampling_never_crosses_the_cut() {
    // node 0 has 50 out-edges with timestamps 0..50 (edge to node i+1 at time i)
    let edges: Vec<(u32, u32)> = (1..=50).map(|v| (0, v)).collect();
    let mut g = graph(&[("n", 51)], vec![("n", "e", "n", edges, None, false)]);
    // attach timestamps: rebuild with a timestamp column
    let (s, d): (Vec<u32>, Vec<u32>) = (1..=50u32).map(|v| (0u32, v)).unzip();
    let b = build_topology(51, 51, s, d, BuildOptions { edge_ids: true, ..Default::default() }).unwrap();
    let ts = Column::Int((0..50i64).collect::<Vec<_>>().into()).permute(b.input_edge.as_ref().unwrap());
    let mut schema = g.schema().clone();
    schema.edge_types[0].attributes = vec![AttrSchema { name: "timestamp".into(), kind: AttrKind::Int }];
    g = Graph::from_parts(
        schema,
        vec![NodeStore { ids: NodeIds::Dense(51), columns: vec![], sets: vec![] }],
        vec![EdgeStore { out: b.out, inn: b.inn, columns: vec![ts], self_loops: 0 }],
    )
    .unwrap();
    let mut seen = [0u32; 51];
    for t in 0..500 {
        for v in one_hop(&g, "e", &[0], 5, Strategy::Before(20), t) {
            assert!(v <= 20, "edge to {v} has timestamp {} >= 20", v - 1);
            seen[v as usize] += 1;
        }
    }
    assert!(seen[1..=20].iter().all(|&c| c > 0), "every eligible edge is drawn: {:?}", &seen[1..=20]);
    assert_eq!(one_hop(&g, "e", &[0], 3, Strategy::MostRecent(20), 0), vec![20, 19, 18]);
    // the edge 0 -> 7 has timestamp 6: walked backwards it is found before 7, not before 6
    assert_eq!(one_hop(&g, "rev_e", &[7], 3, Strategy::MostRecent(7), 0), vec![0], "in-edges carry timestamps too");
    assert!(one_hop(&g, "rev_e", &[7], 3, Strategy::MostRecent(6), 0).is_empty(), "an edge at the cut is excluded");
    assert!(one_hop(&g, "e", &[0], 3, Strategy::Before(0), 0).is_empty());
}

#[test]
fn ego_layers_have_fixed_shapes_and_masks_hide_padding() {
    use ferrograph_sample::ego::{Padding, sample_ego};
    // 0 <- {1, 2}; 1 <- {3}; 2 <- {} ; 3 <- {}
    let g = graph(&[("n", 4)], vec![("n", "e", "n", vec![(1, 0), (2, 0), (3, 1)], None, false)]);
    let lg = LocalGraph::new(&g);
    let r = Relation::resolve(&g, "rev_e").unwrap();
    let out = sample_ego(&lg, &[(r, 3), (r, 2)], Strategy::RandomWithoutReplacement, Padding::Mask, &[0, 2], 1).unwrap();
    assert_eq!(out.layers.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 6, 12]);
    assert_eq!(out.masks[1], vec![true, true, false, false, false, false]);
    let mut hop1: Vec<u32> = out.layers[1][..2].to_vec();
    hop1.sort_unstable();
    assert_eq!(hop1, vec![1, 2]);
    // children of padded slots are padded; node 1's only in-neighbour is 3
    let idx1 = out.layers[1].iter().position(|&x| x == 1).unwrap();
    assert_eq!(out.layers[2][idx1 * 2], 3);
    assert!(out.masks[2][idx1 * 2] && !out.masks[2][idx1 * 2 + 1]);
    assert!(out.masks[2][4..].iter().all(|m| !m));
    let rep = sample_ego(&lg, &[(r, 3)], Strategy::RandomWithoutReplacement, Padding::Repeat, &[0, 2], 1).unwrap();
    assert_eq!(rep.masks[1], vec![true, true, true, false, false, false]);
    assert_eq!(rep.layers[1][2], rep.layers[1][0], "circular repetition");
}

#[test]
fn induced_subgraph_keeps_exactly_the_edges_among_members() {
    use ferrograph_sample::subgraph::induced_subgraph;
    // path 0-1-2-3-4 plus chord 0-2 (undirected)
    let g = graph(&[("n", 5)], vec![("n", "e", "n", vec![(0, 1), (1, 2), (2, 3), (3, 4), (0, 2)], None, true)]);
    let lg = LocalGraph::new(&g);
    let sub = induced_subgraph(&lg, Relation::resolve(&g, "e").unwrap(), &[0], 1).unwrap();
    let mut nodes = sub.nodes.clone();
    nodes.sort_unstable();
    assert_eq!(nodes, vec![0, 1, 2]);
    let mut edges: Vec<(u32, u32)> = sub.src.iter().zip(&sub.dst).map(|(&a, &b)| (sub.nodes[a as usize], sub.nodes[b as usize])).collect();
    edges.sort_unstable();
    assert_eq!(edges, vec![(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)], "1-2 is induced although not on a seed");
}

fn with_node_columns(n: usize, edges: Vec<(u32, u32)>, cols: Vec<(&str, Column)>) -> Graph {
    let base = graph(&[("n", n)], vec![("n", "e", "n", edges.clone(), None, false)]);
    let mut schema = base.schema().clone();
    schema.node_types[0].attributes = cols.iter().map(|(name, c)| AttrSchema { name: name.to_string(), kind: c.kind() }).collect();
    let (s, d): (Vec<u32>, Vec<u32>) = edges.into_iter().unzip();
    let b = build_topology(n, n, s, d, BuildOptions::default()).unwrap();
    Graph::from_parts(
        schema,
        vec![NodeStore { ids: NodeIds::Dense(n as u32), columns: cols.into_iter().map(|c| c.1).collect(), sets: vec![] }],
        vec![EdgeStore { out: b.out, inn: b.inn, columns: vec![], self_loops: b.self_loops }],
    )
    .unwrap()
}

#[test]
fn in_degree_neighbours_follow_the_neighbours_in_degree() {
    // node 0 -> 1..=4; node v in 1..=4 also receives v-1 edges from nodes 10.. (in-degree v)
    let mut edges: Vec<(u32, u32)> = (1..=4).map(|v| (0, v)).collect();
    let mut src = 10;
    for v in 1..=4u32 {
        for _ in 1..v {
            edges.push((src, v));
            src += 1;
        }
    }
    let g = graph(&[("n", 20)], vec![("n", "e", "n", edges, None, false)]);
    let mut counts = [0f64; 5];
    for t in 0..400 {
        for v in one_hop(&g, "e", &[0], 50, Strategy::InDegree, t) {
            counts[v as usize] += 1.0;
        }
    }
    let expected: Vec<f64> = (1..=4).map(|d| 20_000.0 * d as f64 / 10.0).collect();
    let x = chi2(&counts[1..], &expected);
    assert!(x < critical(3), "chi-square {x}: {counts:?}");
}

#[test]
fn node_weight_and_conditional_negatives() {
    // 6 nodes; weights 0,1,2,3,0,0; categories a,a,b,b,a,b
    let weight = Column::Float(vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0].into());
    let cat = Column::Int(vec![0, 0, 1, 1, 0, 1].into());
    let g = with_node_columns(6, vec![(0, 1), (4, 2), (5, 3)], vec![("w", weight), ("cat", cat)]);
    let lg = LocalGraph::new(&g);
    let rel = Relation::resolve(&g, "e").unwrap();
    let neg = NegativeSampler::new(&lg, rel, NegativeStrategy::NodeWeight("w".into()), false).unwrap();
    let draws = neg.sample(&[0; 1000], 12, 2).unwrap();
    let mut counts = [0f64; 6];
    draws.iter().for_each(|&v| counts[v as usize] += 1.0);
    assert_eq!((counts[0], counts[4], counts[5]), (0.0, 0.0, 0.0), "zero weight is never drawn");
    let x = chi2(&counts[1..4], &[2000.0, 4000.0, 6000.0]);
    assert!(x < critical(2), "chi-square {x}: {counts:?}");
    // conditional + strict: against positive 2 (cat 1) from source 4, negatives are cat-1 nodes other than 2
    let cond = NegativeSampler::new(&lg, rel, NegativeStrategy::Random, true).unwrap().condition_on("cat").unwrap();
    let d = cond.sample_conditional(&[4; 300], &[2; 300], 3, 5).unwrap();
    assert!(d.iter().all(|&v| v == 3 || v == 5), "{:?}", &d[..10]);
    assert!(d.contains(&3) && d.contains(&5));
    assert!(NegativeSampler::new(&lg, rel, NegativeStrategy::NodeWeight("nope".into()), false).is_err());
}

/// A small academic graph: papers 0..6, authors 0..5, subjects 0..2;
/// paper p is written by authors {p % 5, (p + 1) % 5, (2p) % 5} (distinct ones)
/// and has subject p % 3.
fn academic() -> Graph {
    let mut pa = Vec::new();
    for p in 0..6u32 {
        let mut a = vec![p % 5, (p + 1) % 5, (2 * p) % 5];
        a.sort_unstable();
        a.dedup();
        pa.extend(a.into_iter().map(|a| (p, a)));
    }
    let ps: Vec<(u32, u32)> = (0..6u32).map(|p| (p, p % 3)).collect();
    graph(
        &[("paper", 6), ("author", 5), ("subject", 3)],
        vec![("paper", "written_by", "author", pa, None, false), ("paper", "has_subject", "subject", ps, None, false)],
    )
}

#[test]
fn metapath_neighbours_follow_the_types_with_uniform_steps() {
    use ferrograph_sample::hetero::metapath_neighbors;
    let g = academic();
    let (wb, wr) = (Relation::resolve(&g, "written_by").unwrap(), Relation::resolve(&g, "rev_written_by").unwrap());
    // Walks of the metapath paper → author → paper: every step goes to a node
    // of the right type along a real edge, and each choice is uniform.
    let w = Walker::metapath(vec![wb, wr], 4).unwrap();
    let starts: Vec<u32> = std::iter::repeat_n(0u32, 30_000).collect();
    let walks = w.walks(&LocalGraph::new(&g), &starts, 17).unwrap();
    let authors_of = |p: u32| g.neighbors(wb.edge_type, ferrograph_graph::Direction::Out, ferrograph_graph::LocalIdx(p)).to_vec();
    let papers_of = |a: u32| g.neighbors(wb.edge_type, ferrograph_graph::Direction::In, ferrograph_graph::LocalIdx(a)).to_vec();
    let mut first = [0f64; 5];
    let mut second: std::collections::HashMap<u32, Vec<f64>> = Default::default();
    for walk in walks.chunks(5) {
        assert_eq!(walk[0], 0);
        for (s, pair) in walk.windows(2).enumerate() {
            let ok = if s % 2 == 0 { authors_of(pair[0]).contains(&pair[1]) } else { papers_of(pair[0]).contains(&pair[1]) };
            assert!(ok, "step {s} of {walk:?} leaves the metapath's relation");
        }
        first[walk[1] as usize] += 1.0;
        let papers = papers_of(walk[1]);
        let counts = second.entry(walk[1]).or_insert_with(|| vec![0.0; papers.len()]);
        counts[papers.binary_search(&walk[2]).unwrap()] += 1.0;
    }
    // Step 1: uniform among paper 0's authors.
    let a0 = authors_of(0);
    let obs: Vec<f64> = a0.iter().map(|&a| first[a as usize]).collect();
    let exp = vec![starts.len() as f64 / a0.len() as f64; a0.len()];
    assert!(chi2(&obs, &exp) < critical(a0.len() - 1), "first step {obs:?}");
    // Step 2: from each author, uniform among its papers.
    for (a, obs) in second {
        let total: f64 = obs.iter().sum();
        let exp = vec![total / obs.len() as f64; obs.len()];
        if obs.len() > 1 {
            assert!(chi2(&obs, &exp) < critical(obs.len() - 1), "author {a}: {obs:?}");
        }
    }
    // Metapath neighbours are the walks' ends: papers sharing an author.
    let (off, nbrs) = metapath_neighbors(&LocalGraph::new(&g), &[wb, wr], &[0, 3], 50, 2).unwrap();
    assert_eq!(off, vec![0, 50, 100]);
    for (i, &p) in [0u32, 3].iter().enumerate() {
        for &q in &nbrs[off[i] as usize..off[i + 1] as usize] {
            assert!(authors_of(p).iter().any(|a| authors_of(q).contains(a)), "{q} shares no author with {p}");
        }
    }
    // Types that do not chain, and metapaths that do not return, are refused.
    let hs = Relation::resolve(&g, "has_subject").unwrap();
    assert!(Walker::metapath(vec![wb, hs], 4).is_err());
    assert!(metapath_neighbors(&LocalGraph::new(&g), &[wb], &[0], 3, 0).is_err());
}

#[test]
fn typed_blocks_follow_relations_and_are_thread_independent() {
    use ferrograph_sample::hetero::{HeteroSampler, TypedHopSpec};
    let g = academic();
    let rel = |n: &str| Relation::resolve(&g, n).unwrap();
    let (wb, wr, hs, hr) = (rel("written_by"), rel("rev_written_by"), rel("has_subject"), rel("rev_has_subject"));
    let paper = wb.from;
    let hop = |f1, f2| {
        vec![
            TypedHopSpec { relation: wb, fanout: f1 },
            TypedHopSpec { relation: hs, fanout: 1 },
            TypedHopSpec { relation: wr, fanout: f2 },
            TypedHopSpec { relation: hr, fanout: f2 },
        ]
    };
    let s = HeteroSampler::new(paper, 3, vec![hop(2, 2), hop(2, 3)], Strategy::RandomWithoutReplacement).unwrap();
    let out = s.sample(&LocalGraph::new(&g), &[4, 1, 4], 3).unwrap();
    assert_eq!(out.nodes[paper.0 as usize][..2], [4, 1], "seeds first, duplicates merged");
    assert_eq!(out.seed_index, vec![0, 1, 0]);
    for t in 0..3 {
        let mut v = out.nodes[t].clone();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), out.nodes[t].len(), "each node once per type");
        assert_eq!(out.num_nodes[t].iter().sum::<usize>(), out.nodes[t].len());
    }
    let rels = [wb, hs, wr, hr];
    for e in &out.edges {
        let r = rels[e.relation];
        let (from, to) = (r.from.0 as usize, r.to.0 as usize);
        // Destinations are the frontier of the previous hop; sources real neighbours.
        let frontier_end = out.reached(e.hop - 1)[from];
        let frontier_start = if e.hop == 1 { 0 } else { out.reached(e.hop - 2)[from] };
        for (&row, &col) in e.row.iter().zip(&e.col) {
            assert!((frontier_start..frontier_end).contains(&(col as usize)), "hop {} expands its frontier", e.hop);
            let (u, v) = (out.nodes[from][col as usize], out.nodes[to][row as usize]);
            assert!(g.neighbors(r.edge_type, r.direction, ferrograph_graph::LocalIdx(u)).contains(&v));
        }
        // Fan-out respected.
        let mut per = std::collections::HashMap::new();
        for &c in &e.col {
            *per.entry(c).or_insert(0) += 1;
        }
        let k = if e.hop == 1 { [2, 1, 2, 2][e.relation] } else { [2, 1, 3, 3][e.relation] };
        assert!(per.values().all(|&c| c <= k));
    }
    // Layer counts: the last layer's destinations are the seeds alone.
    let (dst, src, top) = out.layer_counts(2, 1);
    assert_eq!((dst[paper.0 as usize], dst[1], dst[2], top), (2, 0, 0, 1));
    assert!(src[1] > 0 && src[2] > 0);
    // Same seed, same blocks, whatever the thread count.
    let seeds: Vec<u32> = (0..6).collect();
    let run = |t| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(|| seeds.iter().map(|&x| s.sample(&LocalGraph::new(&g), &[x], 9).unwrap()).collect::<Vec<_>>())
    };
    assert_eq!(run(1), run(4));
}
