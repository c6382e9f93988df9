//! How walks reach the graph: no step fetches a neighbour row (checked with
//! an instrumented `NeighborAccess` on a hub), the default trait methods
//! agree with the local graph's, each step is one request per chunk, and a
//! walk depends on nothing but its start, the seed and its index.

use std::sync::Mutex;

use ferrograph_graph::idmap::NodeIds;
use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_graph::{EdgeStore, EdgeTypeSchema, Graph, IdKind, NodeStore, NodeTypeId, NodeTypeSchema, Schema};
use ferrograph_sample::negative::{NegativeSampler, NegativeStrategy};
use ferrograph_sample::subgraph::{induced_subgraph, induced_subgraph_bounded};
use ferrograph_sample::walk::{PAD, Walker};
use ferrograph_sample::{Error, LocalGraph, NeighborAccess, Relation, Result, Sampled, Strategy};

/// One node type `n` of `n` nodes; relation `e`, and (for metapaths) `f`.
fn graph(n: usize, edges: &[(u32, u32)], undirected: bool) -> Graph {
    let (s, d): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
    let mut schemas = Vec::new();
    let mut stores = Vec::new();
    for rel in ["e", "f"] {
        let b = build_topology(n, n, s.clone(), d.clone(), BuildOptions { undirected, ..Default::default() }).unwrap();
        schemas.push(EdgeTypeSchema {
            relation: rel.into(),
            src: "n".into(),
            dst: "n".into(),
            reverse: format!("rev_{rel}"),
            undirected,
            attributes: vec![],
        });
        stores.push(EdgeStore { out: b.out, inn: b.inn, columns: vec![], self_loops: b.self_loops });
    }
    let schema = Schema {
        node_types: vec![NodeTypeSchema { name: "n".into(), id_kind: IdKind::Dense, attributes: vec![], sets: vec![] }],
        edge_types: schemas,
    };
    Graph::from_parts(schema, vec![NodeStore { ids: NodeIds::Dense(n as u32), columns: vec![], sets: vec![] }], stores).unwrap()
}

fn random_graph(n: u32, m: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut x = seed;
    (0..m)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (((x >> 33) % u64::from(n)) as u32, ((x >> 7) % u64::from(n)) as u32)
        })
        .collect()
}

/// What a request asked for and got.
#[derive(Debug, Clone)]
struct Request {
    nodes: usize,
    k: usize,
    strategy: Strategy,
    returned: usize,
}

/// A graph that records every request.
struct Counting<'g> {
    inner: LocalGraph<'g>,
    requests: Mutex<Vec<Request>>,
    has_edges: Mutex<Vec<usize>>,
}

impl<'g> Counting<'g> {
    fn new(g: &'g Graph) -> Self {
        Counting { inner: LocalGraph::new(g), requests: Mutex::default(), has_edges: Mutex::default() }
    }
}

impl NeighborAccess for Counting<'_> {
    fn node_count(&self, t: NodeTypeId) -> usize {
        self.inner.node_count(t)
    }

    fn sample_neighbors(&self, rel: Relation, nodes: &[u32], k: usize, strategy: Strategy, seed: u64, out: &mut Sampled) -> Result<()> {
        let before = out.neighbors.len();
        self.inner.sample_neighbors(rel, nodes, k, strategy, seed, out)?;
        self.requests.lock().unwrap().push(Request { nodes: nodes.len(), k, strategy, returned: out.neighbors.len() - before });
        Ok(())
    }

    fn has_edges(&self, rel: Relation, nodes: &[u32], targets: &[u32], out: &mut Vec<bool>) -> Result<()> {
        self.has_edges.lock().unwrap().push(nodes.len());
        self.inner.has_edges(rel, nodes, targets, out)
    }

    fn degrees(&self, rel: Relation, nodes: &[u32], out: &mut Vec<u64>) -> Result<()> {
        self.inner.degrees(rel, nodes, out)
    }
}

/// A graph implementing only the required methods: `has_edges` and
/// `degrees` are the trait's defaults.
struct Minimal<'g>(LocalGraph<'g>);

impl NeighborAccess for Minimal<'_> {
    fn node_count(&self, t: NodeTypeId) -> usize {
        self.0.node_count(t)
    }
    fn sample_neighbors(&self, rel: Relation, nodes: &[u32], k: usize, strategy: Strategy, seed: u64, out: &mut Sampled) -> Result<()> {
        self.0.sample_neighbors(rel, nodes, k, strategy, seed, out)
    }
}

#[test]
fn walk_steps_on_a_hub_never_fetch_full_rows() {
    // a star: hub 0 and 20,000 leaves; every other step of a walk is at the hub
    let leaves = 20_000u32;
    let edges: Vec<(u32, u32)> = (1..=leaves).map(|v| (0, v)).collect();
    let g = graph(leaves as usize + 1, &edges, true);
    let rel = Relation::resolve(&g, "e").unwrap();
    let starts: Vec<u32> = (1..=1000).collect();
    let length = 10;
    for (p, q) in [(1.0, 1.0), (0.5, 2.0), (2.0, 0.5)] {
        let cg = Counting::new(&g);
        let walks = Walker::node2vec(rel, length, p, q).unwrap().walks(&cg, &starts, 3).unwrap();
        assert!(walks.iter().all(|&x| x != PAD), "a star has no dead end");
        for (i, w) in walks.chunks(length + 1).enumerate() {
            assert_eq!(w[0], starts[i]);
            assert!(w.iter().skip(1).step_by(2).all(|&x| x == 0), "odd steps are at the hub");
        }
        let requests = cg.requests.lock().unwrap().clone();
        assert!(requests.iter().all(|r| r.strategy == Strategy::Random), "p = {p}, q = {q}: a row was fetched: {requests:?}");
        // never more than the k draws asked per slot, and a whole step of the chunk in one request for first order
        assert!(requests.iter().all(|r| r.returned <= r.nodes * r.k && r.nodes <= starts.len()), "{requests:?}");
        let returned: usize = requests.iter().map(|r| r.returned).sum();
        assert!(returned <= starts.len() * length * 64, "p = {p}, q = {q}: {returned} ids returned");
        if p == 1.0 && q == 1.0 {
            assert_eq!(requests.len(), length, "one request per step");
            assert_eq!(returned, starts.len() * length, "one id per walk and step");
            assert!(cg.has_edges.lock().unwrap().is_empty());
        } else {
            // each walk is at the hub 5 times: full rows would have copied 10^8 ids
            assert!(returned * 100 < starts.len() * (length / 2) * leaves as usize, "p = {p}, q = {q}: {returned} ids returned");
            assert!(!cg.has_edges.lock().unwrap().is_empty(), "membership is asked");
        }
        eprintln!("p = {p}, q = {q}: {} requests, {returned} ids", requests.len());
    }
}

#[test]
fn walks_with_no_accepted_candidate_fall_back_to_full_rows() {
    // 0 and 1 linked to each other and to 2, 3, 4: from 0 -> 1 no neighbour of 1 is outward, so
    // with q tiny (max weight 1/q) a candidate is accepted with probability <= 2q
    let g = graph(5, &[(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)], true);
    let cg = Counting::new(&g);
    Walker::node2vec(Relation::resolve(&g, "e").unwrap(), 2, 0.5, 1e-4).unwrap().walks(&cg, &[0; 100], 1).unwrap();
    let requests = cg.requests.lock().unwrap().clone();
    let full: Vec<&Request> = requests.iter().filter(|r| r.strategy == Strategy::Full).collect();
    assert_eq!(full.len(), 2, "the current and previous rows, once, for the walks left: {requests:?}");
    assert!(full[0].nodes > 90 && full[0].nodes <= 100);
    assert_eq!(requests.len(), 1 + 7 + 2, "first step, 7 rounds, the fallback");
}

#[test]
fn default_trait_methods_agree_with_the_local_graph() {
    let edges = random_graph(300, 3000, 11);
    let g = graph(300, &edges, false);
    let rel = Relation::resolve(&g, "e").unwrap();
    let (lg, min) = (LocalGraph::new(&g), Minimal(LocalGraph::new(&g)));
    let nodes: Vec<u32> = (0..300).chain(0..300).collect();
    let targets: Vec<u32> = (0..600u32).map(|i| (i * 7919) % 301).collect();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    lg.has_edges(rel, &nodes, &targets, &mut a).unwrap();
    min.has_edges(rel, &nodes, &targets, &mut b).unwrap();
    assert_eq!(a, b);
    for (i, (&u, &v)) in nodes.iter().zip(&targets).enumerate() {
        assert_eq!(a[i], edges.contains(&(u, v)), "{u} -> {v}");
    }
    let (mut da, mut db) = (Vec::new(), Vec::new());
    lg.degrees(rel, &nodes, &mut da).unwrap();
    min.degrees(rel, &nodes, &mut db).unwrap();
    assert_eq!(da, db);
    assert!(lg.has_edges(rel, &[300], &[0], &mut a).is_err(), "a node outside the type is an error");
    assert!(lg.has_edges(rel, &[0, 1], &[0], &mut a).is_err(), "one target per node");
    // walks through the defaults are the same walks
    let starts: Vec<u32> = (0..300).collect();
    let w = Walker::node2vec(rel, 12, 0.3, 3.0).unwrap();
    assert_eq!(w.walks(&lg, &starts, 9).unwrap(), w.walks(&min, &starts, 9).unwrap());
}

#[test]
fn walks_depend_only_on_their_start_seed_and_index() {
    // 10,000 walks: three chunks of up to 4,096
    let edges = random_graph(2000, 12_000, 5);
    let g = graph(2000, &edges, false);
    let lg = LocalGraph::new(&g);
    let (e, f) = (Relation::resolve(&g, "e").unwrap(), Relation::resolve(&g, "rev_f").unwrap());
    let starts: Vec<u32> = (0..10_000u32).map(|i| (i * 37) % 2000).collect();
    let walkers = [
        Walker::node2vec(e, 15, 1.0, 1.0).unwrap(),
        Walker::node2vec(e, 15, 0.25, 4.0).unwrap(),
        Walker::node2vec(e, 15, 4.0, 0.25).unwrap(),
        Walker::metapath(vec![e, f], 15).unwrap(),
    ];
    for w in &walkers {
        let run = |t, starts: &[u32]| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap().install(|| w.walks(&lg, starts, 21).unwrap());
        let one = run(1, &starts);
        assert!(one.contains(&PAD), "directed random graphs have dead ends");
        assert_eq!(one, run(2, &starts), "{w:?}");
        assert_eq!(one, run(8, &starts), "{w:?}");
        // other starts changed (every third one), the rest of the walks stay the same
        let other: Vec<u32> = starts.iter().enumerate().map(|(i, &s)| if i % 3 == 0 { (s + 1) % 2000 } else { s }).collect();
        let changed = run(2, &other);
        for (i, (a, b)) in one.chunks(16).zip(changed.chunks(16)).enumerate() {
            if i % 3 != 0 {
                assert_eq!(a, b, "walk {i} of {w:?} changed with other walks' starts");
            }
        }
        // and a prefix of the starts gives a prefix of the walks
        assert_eq!(&one[..5000 * 16], &run(1, &starts[..5000])[..], "{w:?}");
    }
}

#[test]
fn huge_walks_are_refused_before_allocating() {
    let g = graph(3, &[(0, 1), (1, 2)], false);
    let rel = Relation::resolve(&g, "e").unwrap();
    let w = Walker::node2vec(rel, usize::MAX, 1.0, 1.0).unwrap();
    assert!(matches!(w.walks(&LocalGraph::new(&g), &[0], 0), Err(Error::TooLarge { .. })));
    let w = Walker::node2vec(rel, usize::MAX / 2, 1.0, 1.0).unwrap();
    assert!(matches!(w.walks(&LocalGraph::new(&g), &[0, 1, 2], 0), Err(Error::TooLarge { .. })));
    // Within the addressable bound but not allocatable (2^60 bytes): an
    // error, not an abort of the process.
    let w = Walker::node2vec(rel, 1 << 58, 1.0, 1.0).unwrap();
    let e = w.walks(&LocalGraph::new(&g), &[0], 0).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
    assert!(e.to_string().starts_with("1 walks of length 288230376151711744 would need 1152921504606846980 bytes"), "{e}");
    let lg = LocalGraph::new(&g);
    let neg = NegativeSampler::new(&lg, rel, NegativeStrategy::Random, false).unwrap();
    assert!(matches!(neg.sample(&[0], 1 << 60, 0), Err(Error::OutOfMemory { .. })));
    assert!(matches!(neg.sample(&[0, 1], usize::MAX, 0), Err(Error::OutOfMemory { .. })));
    for (p, q) in [(1e-320, 1.0), (1.0, f64::INFINITY), (f64::NAN, 1.0), (0.0, 1.0)] {
        assert!(Walker::node2vec(rel, 3, p, q).is_err(), "p = {p}, q = {q}");
    }
}

#[test]
fn bounded_subgraphs_stop_before_passing_the_bound() {
    // a path 0-1-...-99 plus a hub 100 linked to every node
    let mut edges: Vec<(u32, u32)> = (0..99).map(|i| (i, i + 1)).collect();
    edges.extend((0..100).map(|i| (100, i)));
    let g = graph(101, &edges, true);
    let lg = LocalGraph::new(&g);
    let rel = Relation::resolve(&g, "e").unwrap();
    let full = induced_subgraph(&lg, rel, &[0], 2).unwrap();
    assert_eq!(full.nodes.len(), 101);
    assert_eq!(induced_subgraph_bounded(&lg, rel, &[0], 2, 10_000).unwrap(), full);
    let e = induced_subgraph_bounded(&lg, rel, &[0], 2, 150).unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 150, .. }), "{e}");
    assert!(induced_subgraph_bounded(&lg, rel, &[0], usize::MAX, 50).is_err());
    // a huge hop count ends when no new node is reached
    assert_eq!(induced_subgraph_bounded(&lg, rel, &[0], usize::MAX, 10_000).unwrap(), full);
}

#[test]
fn oversized_requests_are_refused() {
    let g = graph(3, &[(0, 1), (0, 2)], false);
    let lg = LocalGraph::new(&g);
    let rel = Relation::resolve(&g, "e").unwrap();
    let mut out = Sampled::default();
    let e = lg.sample_neighbors(rel, &[0, 0], usize::MAX, Strategy::Random, 0, &mut out).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    // without replacement, k is capped by the degree: a huge k is fine
    lg.sample_neighbors(rel, &[0, 1], usize::MAX, Strategy::RandomWithoutReplacement, 0, &mut out).unwrap();
    assert_eq!(out.neighbors, vec![1, 2]);
}
