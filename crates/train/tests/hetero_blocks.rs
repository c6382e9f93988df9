//! Typed blocks against exact inference: with fan-outs larger than any
//! degree, a sampled batch holds every neighbourhood in full, so R-GCN and
//! HeteroSAGE must give the seeds exactly the outputs that layer-wise
//! full-graph inference gives them (checks block layout, hop counts,
//! prefixes and relation slots together).

use std::path::PathBuf;

use ferrograph_sample::LocalGraph;
use ferrograph_train::config::TrainConfig;
use ferrograph_train::hetero::model::{HeteroModel, init};
use ferrograph_train::hetero::trainer::{infer, sampler};
use ferrograph_train::hetero::{Tables, blocks, input_rows, resolve};
use ferrograph_train::trainer::host;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn sampled_blocks_with_full_fanouts_match_exact_inference() {
    let g = ferrograph_io::import_file(&repo().join("configs/acm.toml"), &ferrograph_graph::progress::NoProgress).unwrap();
    for name in ["acm-rgcn", "acm-hetero-sage"] {
        let path = repo().join(format!("configs/train/{name}.toml"));
        let text = std::fs::read_to_string(&path).unwrap().replace("fanouts = [10, 10]", "fanouts = [100000, 100000]");
        let cfg = TrainConfig::parse(&text, &path).unwrap();
        let r = resolve(&cfg, &g).unwrap();
        let model = init(&cfg.model, &r, 7);
        let tables = Tables::new(&g, &r, 7);
        let (exact, _, _) = infer(&model, &g, &r, &tables, None).unwrap();
        let HeteroModel::Layers(m) = &model else { unreachable!("not HAN") };
        let s = sampler(&cfg, &r, m.layers()).unwrap();
        let seeds: Vec<u32> = (0..4019).step_by(20).collect();
        let out = s.sample(&LocalGraph::new(&g), &seeds, 3).unwrap();
        let b = blocks(&out, &r.relations, m.layers());
        let xs =
            (0..r.types()).map(|t| (!out.nodes[t].is_empty()).then(|| input_rows(&g, &r, &tables, t, &out.nodes[t], false).unwrap().x)).collect();
        let logits = m.forward(&r.relations, &b, xs, None)[r.target.0 as usize].clone().unwrap();
        let got = host(logits);
        let c = r.classes;
        let mut worst = 0f32;
        for (i, &v) in out.nodes[r.target.0 as usize][..seeds.len()].iter().enumerate() {
            for k in 0..c {
                worst = worst.max((got[i * c + k] - exact[v as usize * c + k]).abs());
            }
        }
        assert!(worst < 1e-3, "{name}: sampled and exact logits differ by {worst}");
    }
}
