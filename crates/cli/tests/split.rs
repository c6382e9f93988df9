//! `ferrograph split-edges`: deterministic, and no held-out edge is
//! visible to the training graph or a sampler over it.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrograph_sample::neighbor::HopSpec;
use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_ferrograph")).args(args).output().unwrap();
    assert!(o.status.success(), "ferrograph {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn pairs(p: &Path) -> Vec<[u32; 2]> {
    let a = ferrograph_io::npy::read_npy(p).unwrap();
    match a.data {
        ferrograph_io::npy::NpyData::Int(v) => v.chunks(2).map(|c| [c[0] as u32, c[1] as u32]).collect(),
        _ => panic!("int64 expected"),
    }
}

#[test]
fn held_out_edges_are_invisible_and_splits_are_deterministic() {
    let d = tempfile::tempdir().unwrap();
    let full = d.path().join("grqc");
    let cfg = repo().join("configs/snap-ca-grqc.toml");
    run(&["import", cfg.to_str().unwrap(), "--out", full.to_str().unwrap()]);
    let split = |name: &str, seed: &str| {
        let out = d.path().join(name);
        run(&[
            "split-edges",
            full.to_str().unwrap(),
            "--relation",
            "edge",
            "--test",
            "0.1",
            "--val",
            "0.05",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    };
    let (a, b, c) = (split("a", "7"), split("b", "7"), split("c", "8"));
    run(&["verify", a.to_str().unwrap()]);
    let held = |o: &Path, f: &str| pairs(&PathBuf::from(format!("{}-heldout", o.display())).join(f));
    for f in ["val.npy", "test.npy", "val_neg.npy", "test_neg.npy"] {
        assert_eq!(held(&a, f), held(&b, f), "{f}: same seed, same split");
    }
    assert_ne!(held(&a, "test.npy"), held(&c, "test.npy"), "another seed, another split");
    let test = held(&a, "test.npy");
    let val = held(&a, "val.npy");
    // 14,496 undirected edges: 10% and 5% held out.
    assert_eq!(test.len(), 1450);
    assert_eq!(val.len(), 725);
    let orig = ferrograph_graph::snapshot::open(&full).unwrap();
    let train = ferrograph_graph::snapshot::open(&a).unwrap();
    let (og, tg) = (&orig.graph, &train.graph);
    let rel = Relation::resolve(tg, "edge").unwrap();
    let (e, dir) = (rel.edge_type, rel.direction);
    let out = tg.topology(e, dir);
    let inn =
        tg.topology(e, if dir == ferrograph_graph::Direction::Out { ferrograph_graph::Direction::In } else { ferrograph_graph::Direction::Out });
    let ocsr = og.topology(e, dir);
    let stored: usize = test.iter().chain(&val).map(|p| if p[0] == p[1] { 1 } else { 2 }).sum();
    assert_eq!(out.len() + stored, ocsr.len(), "exactly the held-out pairs left, both directions");
    for &[s, t] in test.iter().chain(&val) {
        assert!(ocsr.contains(s as usize, t), "a held-out pair is an original edge");
        for (x, y) in [(s, t), (t, s)] {
            assert!(!out.contains(x as usize, y) && !inn.contains(x as usize, y), "held-out {x}-{y} is in the training graph");
        }
    }
    for &[s, t] in held(&a, "test_neg.npy").iter().chain(&held(&a, "val_neg.npy")) {
        assert!(s != t && !ocsr.contains(s as usize, t) && !ocsr.contains(t as usize, s), "negative {s}-{t} is an edge");
    }
    // A sampler taking every neighbour, two hops out from every test
    // endpoint, never returns a held-out edge.
    let lg = LocalGraph::new(tg);
    let sampler = NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 0 }; 2], Strategy::Full).unwrap();
    let held_set: std::collections::HashSet<(u32, u32)> = test.iter().chain(&val).flat_map(|&[s, t]| [(s, t), (t, s)]).collect();
    let seeds: Vec<u32> = {
        let mut v: Vec<u32> = test.iter().flat_map(|p| *p).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    for batch in seeds.chunks(256) {
        let o = sampler.sample(&lg, batch, 1).unwrap();
        for (&r, &c) in o.row.iter().zip(&o.col) {
            let (src, dst) = (o.node[r as usize], o.node[c as usize]);
            assert!(!held_set.contains(&(dst, src)), "sampler reached held-out edge {dst}-{src}");
        }
    }
}
