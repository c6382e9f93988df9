//! Each layer against a hand-computed result on a three-node star, and the
//! ego and block layouts against each other on a sampled graph.

use std::sync::Arc;

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};

use super::*;
use crate::batch::{blocks, ego_hops, full_hop};
use crate::gnn::{ConvKind, GnnConfig};
use crate::hop::Hop;
use crate::{Input, train_device};

fn t2(v: &[f32], r: usize, c: usize) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [r, c]), &train_device())
}

fn vals(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((*x as f64 - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

/// Star 0 – {1, 2}: both directions, as a full-graph hop.
fn star() -> (Hop, Tensor<2>) {
    let hop = full_hop(&[0, 2, 3, 4], &[1, 2, 0, 0]).unwrap();
    (hop, t2(&[1., 0., 0., 1., 2., 2.], 3, 2))
}

fn eye(scale: f32) -> Param<Tensor<2>> {
    Param::from_tensor(t2(&[scale, 0., 0., scale], 2, 2))
}

#[test]
fn sage_aggregators_by_hand() {
    let (hop, x) = star();
    let run = |agg: Aggregator| {
        let mut c = SageConvConfig::new(2, 2).with_aggregator(agg).init(1);
        c.lin_nbr.weight = eye(2.0);
        c.lin_self.as_mut().unwrap().weight = eye(1.0);
        if let Some(p) = c.pool.as_mut() {
            p.weight = eye(1.0);
        }
        if let Some(a) = c.att.as_mut() {
            *a = Param::from_tensor(t2(&[0., 0., 0., 0.], 2, 2));
        }
        vals(c.forward(&hop, x.clone().narrow(0, 0, 3), x.clone()))
    };
    // node 0: x0 + 2·agg(x1, x2); nodes 1, 2: x_i + 2·x0.
    close(&run(Aggregator::Mean), &[3., 3., 2., 1., 4., 2.]);
    close(&run(Aggregator::Sum), &[5., 6., 2., 1., 4., 2.]);
    close(&run(Aggregator::MaxPool), &[5., 4., 2., 1., 4., 2.]);
    // Zero attention scores: uniform over the node and its neighbours.
    close(&run(Aggregator::Attention), &[3., 2., 1., 2., 5., 4.]);
    // L2 normalisation.
    let mut c = SageConvConfig::new(2, 2).with_normalize(true).init(1);
    c.lin_nbr.weight = eye(2.0);
    c.lin_self.as_mut().unwrap().weight = eye(1.0);
    let s = 1.0 / 2f64.sqrt();
    close(&vals(c.forward(&hop, x.clone().narrow(0, 0, 3), x)), &[s, s, 2. / 5f64.sqrt(), 1. / 5f64.sqrt(), 2. / 5f64.sqrt(), 1. / 5f64.sqrt()]);
}

#[test]
fn gcn_by_hand() {
    let (hop, x) = star();
    let mut c = GcnConvConfig::new(2, 2).init(1);
    c.lin.weight = eye(1.0);
    c.bias = Param::from_tensor(Tensor::from_data(TensorData::new(vec![0.5f32, 0.0], [2]), &train_device()));
    let r6 = 6f64.sqrt();
    // d = (2, 1, 1): out_0 = x0/3 + (x1 + x2)/√6; out_1 = x1/2 + x0/√6.
    let want = [1. / 3. + 2. / r6 + 0.5, 3. / r6, 1. / r6 + 0.5, 0.5, 2. / 2. + 1. / r6 + 0.5, 1.];
    close(&vals(c.forward(&hop, x.clone().narrow(0, 0, 3), x)), &want);
}

#[test]
fn gat_by_hand() {
    let (hop, x) = star();
    let mut c = GatConvConfig::new(2, 2, 1).init(1);
    c.lin.weight = eye(1.0);
    c.att_src = Param::from_tensor(Tensor::from_data(TensorData::new(vec![1f32, 0.], [1, 1, 2]), &train_device()));
    c.att_dst = Param::from_tensor(Tensor::from_data(TensorData::new(vec![0f32, 0.], [1, 1, 2]), &train_device()));
    // Node 0 attends over {0, 1, 2} with scores x_j[0] = (1, 0, 2).
    let w: Vec<f64> = [1f64, 0., 2.].iter().map(|s| s.exp()).collect();
    let z: f64 = w.iter().sum();
    let o0 = [(w[0] * 1. + w[2] * 2.) / z, (w[1] * 1. + w[2] * 2.) / z];
    // Node 1 over {1, 0}: scores (0, 1) (LeakyReLU of non-negatives is the identity).
    let (a, b) = (1f64.exp(), 1.0);
    let o1 = [(b * 0. + a * 1.) / (a + b), (b * 1. + a * 0.) / (a + b)];
    let out = vals(c.forward(&hop, x.clone().narrow(0, 0, 3), x.clone(), None));
    close(&out[..4], &[o0[0], o0[1], o1[0], o1[1]]);
    // Two heads averaged equal one head when both heads are identical.
    let mut c2 = GatConvConfig::new(2, 2, 2).with_concat(false).init(2);
    c2.lin.weight = Param::from_tensor(t2(&[1., 0., 1., 0., 0., 1., 0., 1.], 2, 4));
    c2.att_src = Param::from_tensor(Tensor::from_data(TensorData::new(vec![1f32, 0., 1., 0.], [1, 2, 2]), &train_device()));
    c2.att_dst = Param::from_tensor(Tensor::zeros([1, 2, 2], &train_device()));
    close(&vals(c2.forward(&hop, x.clone().narrow(0, 0, 3), x, None))[..4], &[o0[0], o0[1], o1[0], o1[1]]);
}

#[test]
fn ego_and_block_layouts_agree_for_every_layer() {
    use ferrograph_sample::ego::{Padding, sample_ego};
    use ferrograph_sample::neighbor::HopSpec;
    use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};
    let p = ferrograph_io::generate::Planted { nodes: 300, classes: 3, avg_degree: 4.0, feature_dim: 8, ..Default::default() };
    let g = p.graph().unwrap();
    let rel = Relation::resolve(&g, "link").unwrap();
    let csr = g.topology(rel.edge_type, rel.direction);
    let max_deg = (0..300).map(|v| csr.degree(v)).max().unwrap();
    let feat = g.node_column(ferrograph_graph::NodeTypeId(0), "feat").unwrap();
    let lg = LocalGraph::new(&g);
    let seeds: Vec<u32> = (0..40).map(|i| i * 7).collect();
    let gather = |nodes: &[u32]| {
        let mut v = Vec::new();
        let d = ferrograph_sample::features::gather(feat, nodes, &mut v).unwrap();
        t2(&v, nodes.len(), d)
    };
    let deg = |v: u32| csr.degree(v as usize) as f32;
    let sampler = NeighborSampler::new(vec![HopSpec { relation: rel, fanout: max_deg }; 2], Strategy::Full).unwrap();
    let out = sampler.sample(&lg, &seeds, 5).unwrap();
    let bl = blocks(&out, 2, Some(&deg));
    let xb = gather(&out.node);
    let ego = sample_ego(&lg, &[(rel, max_deg), (rel, max_deg)], Strategy::Full, Padding::Mask, &seeds, 5).unwrap();
    let eh = ego_hops(&ego, Some(&deg));
    let xs: Vec<Tensor<2>> = ego.layers.iter().map(|l| gather(l)).collect();
    let configs = [
        GnnConfig { hidden: vec![16], ..GnnConfig::new(ConvKind::Sage) },
        GnnConfig { hidden: vec![16], aggregator: Aggregator::Sum, ..GnnConfig::new(ConvKind::Sage) },
        GnnConfig { hidden: vec![16], aggregator: Aggregator::MaxPool, ..GnnConfig::new(ConvKind::Sage) },
        GnnConfig { hidden: vec![16], aggregator: Aggregator::Attention, normalize: true, ..GnnConfig::new(ConvKind::Sage) },
        GnnConfig { hidden: vec![16], ..GnnConfig::new(ConvKind::Gcn) },
        GnnConfig { hidden: vec![16], heads: 4, out_heads: 2, ..GnnConfig::new(ConvKind::Gat) },
    ];
    for cfg in configs {
        let m = cfg.init(8, 3, 9);
        let a = vals(m.forward_blocks(&bl.iter().collect::<Vec<_>>(), Input::Dense(xb.clone()), None));
        let b = vals(m.forward_ego(&eh, xs.clone(), None));
        // Block rows are the distinct seeds in order; seeds here are distinct.
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-4 * (1.0 + x.abs()), "{cfg:?}: block {x} vs ego {y}");
        }
    }
    let _ = Arc::new(());
}

#[test]
fn sparse_input_rows_give_the_dense_result_for_every_layer_that_reads_them() {
    use ferrograph_sample::rng::SplitMix;
    // 30 sources (the first 10 are destinations), 12-wide rows with ~3 non-zeros each.
    let (n_src, n_dst, dim) = (30usize, 10usize, 12usize);
    let mut rng = SplitMix::new(4);
    let (mut offsets, mut cols, mut values, mut dense) = (vec![0u32], Vec::new(), Vec::new(), vec![0f32; n_src * dim]);
    for r in 0..n_src {
        let mut row: Vec<u32> = (0..3).map(|_| rng.below(dim as u64) as u32).collect();
        row.sort_unstable();
        row.dedup();
        for c in row {
            let v = (rng.below(1000) as f32 / 500.0) - 1.0;
            cols.push(c);
            values.push(v);
            dense[r * dim + c as usize] = v;
        }
        offsets.push(cols.len() as u32);
    }
    let sparse = Input::sparse(dim, offsets, cols, values).unwrap();
    let x = Input::Dense(t2(&dense, n_src, dim));
    let (dst, src): (Vec<u32>, Vec<u32>) = (0..n_dst as u32).flat_map(|d| (0..4).map(move |k| (d, (d * 3 + k * 7 + 1) % n_src as u32))).unzip();
    let deg: Vec<f32> = (0..n_src).map(|i| 1.0 + (i % 5) as f32).collect();
    let hop = Hop::sparse(crate::ops::Adj::from_edges(n_dst, n_src, &dst, &src, None), Some((deg[..n_dst].to_vec(), deg.clone())));
    let configs = [
        GnnConfig { hidden: vec![], ..GnnConfig::new(ConvKind::Sage) },
        GnnConfig { hidden: vec![], aggregator: Aggregator::Sum, ..GnnConfig::new(ConvKind::Sage) },
        GnnConfig { hidden: vec![], aggregator: Aggregator::MaxPool, ..GnnConfig::new(ConvKind::Sage) },
        GnnConfig { hidden: vec![], ..GnnConfig::new(ConvKind::Gcn) },
        GnnConfig { hidden: vec![], heads: 2, out_heads: 2, ..GnnConfig::new(ConvKind::Gat) },
    ];
    for cfg in configs {
        assert!(cfg.reads_sparse());
        let m = cfg.init(dim, 5, 3);
        let a = vals(m.forward_blocks(&[&hop], x.clone(), None));
        let b = vals(m.forward_blocks(&[&hop], sparse.clone(), None));
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-4 * (1.0 + p.abs()), "{cfg:?}: dense {p} vs sparse {q}");
        }
        // And the gradients of the weights agree.
        let ga = m.forward_blocks(&[&hop], x.clone(), None).sum().backward();
        let gb = m.forward_blocks(&[&hop], sparse.clone(), None).sum().backward();
        let (pa, pb) = (burn::optim::GradientsParams::from_grads(ga, &m), burn::optim::GradientsParams::from_grads(gb, &m));
        assert_eq!(pa.len(), pb.len(), "{cfg:?}: the same parameters get gradients");
    }
    assert!(!GnnConfig { aggregator: Aggregator::Attention, ..GnnConfig::new(ConvKind::Sage) }.reads_sparse());
}
