//! Recommendation on Last.fm (LightGCN split): LightGCN trains and beats
//! the popularity baseline (computed by the test with the same protocol).

use std::path::PathBuf;

use ferrograph_train::lightgcn::{Interactions, LightGcnConfig, popularity_baseline, train_lightgcn};

fn interactions(g: &ferrograph_graph::Graph, rel: &str) -> Interactions {
    Interactions::from_graph(g, rel).unwrap()
}

#[test]
fn lightgcn_beats_popularity_on_lastfm() {
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/lastfm.toml");
    let g = ferrograph_io::import_file(&cfg, &ferrograph_graph::progress::NoProgress).unwrap();
    let train = interactions(&g, "listens");
    let test = interactions(&g, "listens_test");
    assert_eq!((train.users, train.items, train.len(), test.len()), (1892, 4489, 42135, 10533));
    let (pop_recall, pop_ndcg) = popularity_baseline(&train, &test, 20);
    let epochs: usize = std::env::var("LIGHTGCN_EPOCHS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let lc = LightGcnConfig { epochs, lr: 0.005, batch_size: 2048, ..Default::default() };
    let (_, history) = train_lightgcn(&train, &test, 20, 10, &lc).unwrap();
    for h in &history {
        if let Some((r, n)) = h.eval {
            eprintln!("epoch {:>3}: loss {:.4}  Recall@20 {r:.4}  NDCG@20 {n:.4}  ({:.2}s)", h.epoch, h.loss, h.seconds);
        }
    }
    let (recall, ndcg) = history.last().unwrap().eval.unwrap();
    eprintln!("popularity: Recall@20 {pop_recall:.4}  NDCG@20 {pop_ndcg:.4}");
    assert!(history.last().unwrap().loss < history[0].loss, "BPR loss falls");
    assert!(recall >= pop_recall + 0.05, "LightGCN Recall@20 {recall} vs popularity {pop_recall}");
    assert!(ndcg >= pop_ndcg + 0.05, "LightGCN NDCG@20 {ndcg} vs popularity {pop_ndcg}");
}

/// Bipartite GraphSAGE (user and item towers over a learnable input table)
/// on the same split, against the same popularity baseline.
#[test]
fn bipartite_graphsage_beats_popularity_on_lastfm() {
    use ferrograph_train::bipartite::train_bipartite_sage;
    use ferrograph_train::linktrain::LinkSageConfig;
    use ferrograph_train::model::{ModelConfig, ModelKind};
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/lastfm.toml");
    let g = ferrograph_io::import_file(&cfg, &ferrograph_graph::progress::NoProgress).unwrap();
    let (train, test) = (interactions(&g, "listens"), interactions(&g, "listens_test"));
    let (pop_recall, pop_ndcg) = popularity_baseline(&train, &test, 20);
    let bc = LinkSageConfig {
        batch_size: 2048,
        epochs: 10,
        lr: 0.005,
        seed: 0,
        ..LinkSageConfig::new(ModelConfig { hidden: vec![64], ..ModelConfig::new(ModelKind::Sage) }, 64, 64, vec![10, 10])
    };
    let ((recall, ndcg), losses) = train_bipartite_sage(&train, &test, 20, &bc).unwrap();
    eprintln!("bipartite GraphSAGE: Recall@20 {recall:.4}  NDCG@20 {ndcg:.4}  losses {losses:?}; popularity {pop_recall:.4} / {pop_ndcg:.4}");
    assert!(losses.last() < losses.first(), "BPR loss falls: {losses:?}");
    assert!(recall >= pop_recall + 0.05, "bipartite GraphSAGE Recall@20 {recall} vs popularity {pop_recall}");
    assert!(ndcg >= pop_ndcg + 0.03, "bipartite GraphSAGE NDCG@20 {ndcg} vs popularity {pop_ndcg}");
}
