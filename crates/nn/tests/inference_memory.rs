//! Layer-wise inference runs in bounded memory: run twice over a generated
//! graph, the second run must not leave the process holding more memory
//! than the first (the bug this guards against grew by ~300 MB/s: every
//! chunk's output stayed alive in an autodiff graph), and the first run
//! stays within a small multiple of the documented working set (two
//! layers' outputs for all nodes plus a chunk).

use ferrograph_graph::NodeTypeId;
use ferrograph_io::generate::Planted;
use ferrograph_nn::gnn::{ConvKind, GnnConfig, infer_layerwise};
use ferrograph_nn::{Input, infer_device, matrix};
use ferrograph_sample::{LocalGraph, Relation};

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = s.lines().find(|l| l.starts_with("VmRSS")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

#[test]
fn layerwise_inference_twice_does_not_grow_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: this check needs Linux");
        return;
    }
    let n = 200_000usize;
    let dim = 64usize;
    let g = Planted { nodes: n as u64, feature_dim: dim as u32, avg_degree: 10.0, ..Planted::default() }.graph().unwrap();
    let t = NodeTypeId(0);
    let rel = Relation::resolve(&g, "link").unwrap();
    let feat = g.node_column(t, "feat").unwrap();
    let local = LocalGraph::new(&g);
    for conv in [ConvKind::Sage, ConvKind::Gcn] {
        let model = GnnConfig { hidden: vec![128], ..GnnConfig::new(conv) }.init(dim, 8, 3);
        let input = |nodes: &[u32]| -> ferrograph_nn::Result<Input> {
            let mut rows = Vec::with_capacity(nodes.len() * dim);
            ferrograph_sample::features::gather(feat, nodes, &mut rows).map_err(|e| ferrograph_nn::Error::Input(e.to_string()))?;
            Ok(Input::Dense(matrix(rows, nodes.len(), dim, &infer_device())))
        };
        let run = || infer_layerwise(&model, &local, rel, n, &input, 2, None, &|_, _| {}).unwrap();
        let before = rss_mib();
        let (first, w) = run();
        let after_first = rss_mib();
        drop(first);
        let (second, w2) = run();
        let after_second = rss_mib();
        assert_eq!((w, w2, second.len()), (8, 8, n * 8));
        // Working set: layer 1's output (n × 128) and layer 2's (n × 8), f32.
        let working = (n * (128 + 8) * 4) as f64 / (1 << 20) as f64;
        eprintln!("{conv:?}: RSS {before:.0} → {after_first:.0} → {after_second:.0} MiB (working set {working:.0} MiB)");
        assert!(after_second - after_first < 32.0, "{conv:?}: memory grew by {:.0} MiB on the second run", after_second - after_first);
        assert!(after_first - before < 4.0 * working + 128.0, "{conv:?}: the first run took {:.0} MiB", after_first - before);
    }
}
