//! GATNE on a multiplex graph whose relations carry independent community
//! structure: per-relation embeddings must predict each relation's
//! held-out links better than one embedding shared by all relations
//! (DeepWalk on the merged graph, same walk budget and width).

use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_graph::{Direction, EdgeTypeId, NodeTypeId};
use ferrograph_io::generate::{Multiplex, homogeneous_graph};
use ferrograph_io::split::split_edges;
use ferrograph_sample::walk::Walker;
use ferrograph_sample::{LocalGraph, Relation};
use ferrograph_train::gatne::{GatneConfig, WalkSpec, fit};
use ferrograph_train::linkpred::{auc, dot_scores};
use ferrograph_train::skipgram::{SkipGramConfig, train_skipgram};

/// The margin the test states: GATNE's AUC minus DeepWalk's, on every relation.
const MARGIN: f64 = 0.1;

fn normalized(mut emb: Vec<f32>, dim: usize) -> Vec<f32> {
    for row in emb.chunks_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
    emb
}

#[test]
fn gatne_beats_a_shared_embedding_on_every_relation() {
    let m = 3;
    let spec = Multiplex { nodes: 1_000, relations: m, communities: 10, avg_degree: 10.0, p_in: 0.9, seed: 5 };
    let mut g = spec.graph().unwrap();
    let mut held = Vec::new();
    for r in 0..m {
        let s = split_edges(g, EdgeTypeId(r as u16), 0.0, 0.2, 11 + r as u64).unwrap();
        g = s.graph;
        held.push((s.test, s.test_neg));
    }
    let n = g.node_count(NodeTypeId(0));
    let rel = |e: u32| Relation { edge_type: EdgeTypeId(e as u16), direction: Direction::Out, from: NodeTypeId(0), to: NodeTypeId(0) };
    let relations: Vec<Relation> = (0..m).map(rel).collect();
    let walk = WalkSpec { walks_per_node: 10, length: 10, p: 1.0, q: 1.0 };
    let dim = 32;
    let cfg = GatneConfig { dim, epochs: 2, ..Default::default() };
    let (model, losses) = fit(&g, &relations, &walk, &cfg, 1).unwrap();
    assert!(losses.iter().all(|l| l.is_finite()), "losses {losses:?}");
    assert!(losses[1] < losses[0], "loss did not fall: {losses:?}");

    // DeepWalk on the merged training graph (both directions of every
    // edge of every relation), as many walk tokens in all.
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for r in 0..m {
        for v in 0..n {
            for &u in g.neighbors(EdgeTypeId(r as u16), Direction::Out, ferrograph_graph::LocalIdx(v as u32)) {
                src.push(v as u32);
                dst.push(u);
            }
        }
    }
    let merged =
        homogeneous_graph(n, build_topology(n, n, src, dst, BuildOptions { undirected: false, dedup: true, edge_ids: false }).unwrap(), vec![])
            .unwrap();
    let starts: Vec<u32> = (0..walk.walks_per_node * m as usize).flat_map(|_| 0..n as u32).collect();
    let walks = Walker::node2vec(rel(0), walk.length, 1.0, 1.0).unwrap().walks(&LocalGraph::new(&merged), &starts, 2).unwrap();
    let sg = SkipGramConfig { dim, epochs: 2, ..Default::default() };
    let shared = normalized(train_skipgram(&walks, walk.length + 1, n, &sg, 3), dim);

    let mut report = Vec::new();
    for (r, (pos, neg)) in held.iter().enumerate() {
        let emb = model.embeddings(r);
        let ours = auc(&dot_scores(&emb, dim, pos), &dot_scores(&emb, dim, neg));
        let base = auc(&dot_scores(&shared, dim, pos), &dot_scores(&shared, dim, neg));
        report.push(format!("r{r}: GATNE {ours:.4}, DeepWalk (merged) {base:.4}"));
        eprintln!("{}", report.last().unwrap());
        assert!(ours >= base + MARGIN, "relation r{r}: GATNE AUC {ours:.4} is not {MARGIN} above DeepWalk's {base:.4} ({report:?})");
    }
}
