//! Link prediction on ca-GrQc: node2vec embeddings trained on the
//! training graph of a 10% held-out split score the held-out edges above
//! as many sampled non-edges (AUC), and the metrics are consistent. (The
//! GraphSAGE link-prediction task runs end to end in `tasks.rs`.)

use std::path::PathBuf;

use ferrograph_sample::walk::Walker;
use ferrograph_sample::{LocalGraph, Relation};
use ferrograph_shallow::skipgram::{SkipGramConfig, train_skipgram};
use ferrograph_train::metrics::{auc, dot_scores, rank_metrics};

/// ca-GrQc with 10% of its edges held out (seed 11).
fn grqc_split() -> ferrograph_io::split::EdgeSplit {
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/snap-ca-grqc.toml");
    let g = ferrograph_io::import_file(&cfg, &ferrograph_graph::progress::NoProgress).unwrap();
    let (e, _) = g.schema().relation("edge").unwrap();
    ferrograph_io::split::split_edges(g, e, 0.0, 0.1, 11).unwrap()
}

#[test]
fn node2vec_on_held_out_ca_grqc_edges() {
    let split = grqc_split();
    let g = &split.graph;
    let rel = Relation::resolve(g, "edge").unwrap();
    let n = g.node_count(rel.from);
    // node2vec budget: 10 walks of 40 steps per node, p = 1, q = 1 (DeepWalk).
    let walker = Walker::node2vec(rel, 40, 1.0, 1.0).unwrap();
    let starts: Vec<u32> = (0..10).flat_map(|_| 0..n as u32).collect();
    let walks = walker.walks(&LocalGraph::new(g), &starts, 5).unwrap();
    let emb = train_skipgram(&walks, 41, n, &SkipGramConfig { epochs: 1, ..Default::default() }, 3);
    let pos = dot_scores(&emb, 64, &split.test);
    let neg = dot_scores(&emb, 64, &split.test_neg);
    let a = auc(&pos, &neg);
    let (mrr, hits) = rank_metrics(&pos, &neg, &[10, 50]);
    eprintln!("node2vec ca-GrQc: AUC {a:.4}, MRR {mrr:.4}, Hits@10 {:.4}, Hits@50 {:.4}", hits[0], hits[1]);
    assert!(a >= 0.85, "AUC {a}");
    // Random embeddings are near chance: the threshold can fail.
    let random = train_skipgram(&[], 41, n, &SkipGramConfig::default(), 3);
    let r = auc(&dot_scores(&random, 64, &split.test), &dot_scores(&random, 64, &split.test_neg));
    assert!((r - 0.5).abs() < 0.1, "random AUC {r}");
    assert!(hits[0] <= hits[1] && mrr > 0.0);
}
