//! Recommendation with bipartite GraphSAGE (`task = "recommendation"`,
//! `model.kind = "sage"`): users and items in one graph (users `0..U`,
//! items `U..U+I`, interactions both ways), a learnable input table, and
//! two towers — one GraphSAGE encoding users, one items — over the same
//! sampled blocks; BPR on dot scores. Final embeddings by exact layer-wise
//! inference; evaluated like LightGCN ([`super::lightgcn`]).

use std::collections::BTreeMap;
use std::path::Path;

use ferrograph_graph::Graph;
use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_nn::batch::blocks;
use ferrograph_nn::gnn::{GnnConfig, infer_layerwise};
use ferrograph_nn::optim::Optimizer;
use ferrograph_nn::towers::TwoTower;
use ferrograph_nn::{Hop, Input, Module, index, record, train_device};
use ferrograph_sample::neighbor::HopSpec;
use ferrograph_sample::rng::derive;
use ferrograph_sample::{LocalGraph, NeighborSampler, Relation, Strategy};

use super::interactions::RecData;
use super::{Embedding, Export, shape};
use crate::Result;
use crate::checkpoint::Sections;
use crate::config::TrainConfig;
use crate::engine::{Evaluation, Finish, Observer, StepOut, Task};

/// The task.
pub struct BipartiteTask<'g> {
    cfg: &'g TrainConfig,
    g: &'g Graph,
    data: RecData,
    /// Users and items in one graph, interactions both ways.
    joint: Graph,
    rel: Relation,
    gnn: GnnConfig,
    sampler: NeighborSampler,
}

/// The learned state.
pub struct BipartiteModel {
    towers: TwoTower,
    optim: Optimizer,
}

/// A prepared batch: blocks over the distinct nodes of the triples, and the
/// rows of users, seen and unseen items among them.
#[allow(missing_docs)] // the fields are the parts named above
pub struct Batch {
    hops: Vec<Hop>,
    nodes: Vec<u32>,
    users: Vec<u32>,
    pos: Vec<u32>,
    neg: Vec<u32>,
}

impl<'g> BipartiteTask<'g> {
    /// Resolves `cfg` in `g` and builds the joint user–item graph.
    pub fn new(cfg: &'g TrainConfig, g: &'g Graph) -> Result<Self> {
        let data = RecData::new(cfg, g)?;
        let tr = &data.train;
        let (u, n) = (tr.users, tr.users + tr.items);
        let (mut src, mut dst) = (Vec::with_capacity(2 * tr.len()), Vec::with_capacity(2 * tr.len()));
        for user in 0..u {
            for &i in tr.row(user) {
                src.extend([user as u32, (u + i as usize) as u32]);
                dst.extend([(u + i as usize) as u32, user as u32]);
            }
        }
        let built = build_topology(n, n, src, dst, BuildOptions::default())?;
        let joint = ferrograph_io::generate::homogeneous_graph(n, built, Vec::new())?;
        let rel = Relation::resolve(&joint, "edge")?;
        let t = &cfg.train;
        let sampler =
            NeighborSampler::new(t.fanouts.iter().map(|&f| HopSpec { relation: rel, fanout: f }).collect(), Strategy::RandomWithoutReplacement)?;
        Ok(BipartiteTask { cfg, g, data, joint, rel, gnn: cfg.gnn_config(), sampler })
    }

    fn nodes(&self) -> usize {
        self.data.train.users + self.data.train.items
    }

    fn final_embeddings(&self, m: &TwoTower, obs: &dyn Observer) -> Result<(Vec<f32>, Vec<f32>, usize)> {
        let plain = m.valid();
        let table = plain.table.val();
        let input = |nodes: &[u32]| -> ferrograph_nn::Result<Input> {
            let d = table.device();
            Ok(Input::Dense(table.clone().select(0, index(nodes, &d))))
        };
        let (n, layers, u) = (self.nodes(), plain.user.num_layers(), self.data.train.users);
        let local = LocalGraph::new(&self.joint);
        let progress = |l: usize, d: usize| obs.progress(&format!("embeddings: layer {}/{layers}", l + 1), d, n);
        let (users, dim) = infer_layerwise(&plain.user, &local, self.rel, n, &input, layers, None, &progress)?;
        let (items, _) = infer_layerwise(&plain.item, &local, self.rel, n, &input, layers, None, &progress)?;
        Ok((users[..u * dim].to_vec(), items[u * dim..].to_vec(), dim))
    }
}

impl Task for BipartiteTask<'_> {
    type Model = BipartiteModel;
    type Plan = Vec<[u32; 3]>;
    type Batch = Batch;

    fn selection(&self) -> Option<String> {
        self.data.val.as_ref().map(|_| format!("recall@{}", self.cfg.eval.k[0]))
    }

    fn shape(&self) -> BTreeMap<String, String> {
        shape(&[("users", self.data.train.users.to_string()), ("items", self.data.train.items.to_string())])
    }

    fn init(&self) -> Result<BipartiteModel> {
        let (m, t) = (&self.cfg.model, &self.cfg.train);
        Ok(BipartiteModel {
            towers: TwoTower::new(&self.gnn, self.nodes(), m.input_dim, m.embedding_dim, t.seed),
            optim: Optimizer::new(t.optimizer, t.weight_decay),
        })
    }

    fn plan(&self, epoch: usize) -> Result<Self::Plan> {
        Ok(self.data.epoch_triples(self.cfg.train.seed, epoch))
    }

    fn steps(&self, plan: &Self::Plan) -> usize {
        plan.len().div_ceil(self.cfg.train.batch_size)
    }

    fn prepare(&self, plan: &Self::Plan, epoch: usize, step: usize) -> Result<Batch> {
        let b = self.cfg.train.batch_size;
        let chunk = &plan[step * b..((step + 1) * b).min(plan.len())];
        let u = self.data.train.users as u32;
        let users: Vec<u32> = chunk.iter().map(|t| t[0]).collect();
        let pos: Vec<u32> = chunk.iter().map(|t| u + t[1]).collect();
        let neg: Vec<u32> = chunk.iter().map(|t| u + t[2]).collect();
        let mut seeds: Vec<u32> = users.iter().chain(&pos).chain(&neg).copied().collect();
        seeds.sort_unstable();
        seeds.dedup();
        let out = self.sampler.sample(&LocalGraph::new(&self.joint), &seeds, derive(derive(self.cfg.train.seed, 10 + epoch as u64), step as u64))?;
        let hops = blocks(&out, self.gnn.num_layers(), None);
        let at = |v: &[u32]| v.iter().map(|x| seeds.binary_search(x).unwrap_or(0) as u32).collect::<Vec<_>>();
        Ok(Batch { hops, nodes: out.node, users: at(&users), pos: at(&pos), neg: at(&neg) })
    }

    fn step(&self, model: BipartiteModel, b: Batch, epoch: usize, step: usize) -> Result<(BipartiteModel, StepOut)> {
        let BipartiteModel { towers, mut optim } = model;
        let dev = train_device();
        let refs: Vec<&Hop> = b.hops.iter().collect();
        let x = towers.table.val().select(0, index(&b.nodes, &dev));
        let dseed = Some(derive(derive(self.cfg.train.seed ^ 0x77, epoch as u64), step as u64));
        let hu = towers.user.forward_blocks(&refs, Input::Dense(x.clone()), dseed);
        let hi = towers.item.forward_blocks(&refs, Input::Dense(x), dseed);
        let eu = hu.select(0, index(&b.users, &dev));
        let (ei, ej) = (hi.clone().select(0, index(&b.pos, &dev)), hi.select(0, index(&b.neg, &dev)));
        let loss = ferrograph_nn::loss::bpr(eu, ei, ej);
        let (towers, lv) = optim.minimize(self.cfg.train.lr, towers, loss);
        Ok((BipartiteModel { towers, optim }, StepOut { loss: f64::from(lv), examples: b.users.len(), ..Default::default() }))
    }

    fn evaluate(&self, model: &BipartiteModel, _epoch: usize, obs: &dyn Observer) -> Result<Evaluation> {
        if self.data.val.is_none() && self.data.test.is_none() {
            return Ok(Evaluation::default());
        }
        let (u, i, d) = self.final_embeddings(&model.towers, obs)?;
        Ok(self.data.evaluation(&u, &i, d, &self.cfg.eval.k))
    }

    fn finish(&self, model: &BipartiteModel, out: &Path, obs: &dyn Observer) -> Result<Finish> {
        obs.phase("test");
        let (u, i, d) = self.final_embeddings(&model.towers, obs)?;
        self.data.finish(self.cfg, self.g, &u, &i, d, out)
    }

    fn save(&self, model: &BipartiteModel, optimizer: bool) -> Result<Vec<u8>> {
        let m = record::to_bytes(&model.towers)?;
        let o = if optimizer { model.optim.to_bytes()? } else { Vec::new() };
        Ok(Sections::pack(&[&m, &o]))
    }

    fn load(&self, bytes: &[u8]) -> Result<BipartiteModel> {
        let parts = Sections::unpack(bytes, 2, "bipartite GraphSAGE model")?;
        let fresh = self.init()?;
        let towers = record::from_bytes(fresh.towers, parts[0])?;
        let optim = if parts[1].is_empty() { fresh.optim } else { fresh.optim.with_bytes(parts[1])? };
        Ok(BipartiteModel { towers, optim })
    }

    fn describe(&self) -> String {
        let (m, t, d) = (&self.cfg.model, &self.cfg.train, &self.data);
        format!(
            "Bipartite GraphSAGE on `{}`: {} users, {} items, {} training interactions; user and item towers (hidden {:?}, embedding {}) over a learnable {}-wide input table; fan-outs {:?}, batch {} triples, {} lr {}.",
            self.cfg.data.relation.as_deref().unwrap_or(""),
            d.train.users,
            d.train.items,
            d.train.len(),
            m.hidden,
            m.embedding_dim,
            m.input_dim,
            t.fanouts,
            t.batch_size,
            t.optimizer.name(),
            t.lr
        )
    }
}

impl Export for BipartiteTask<'_> {
    fn embeddings(&self, model: &BipartiteModel, _output_layer: bool, obs: &dyn Observer) -> Result<Vec<Embedding>> {
        let (u, i, d) = self.final_embeddings(&model.towers, obs)?;
        Ok(self.data.embeddings(u, i, d))
    }
}
