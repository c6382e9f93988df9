//! Recommendation with LightGCN (`task = "recommendation"`, `model.kind =
//! "lightgcn"`): ego embeddings of users and items propagated over the
//! normalised bipartite adjacency (`model.layers` times), BPR over
//! (user, seen item, unseen item) triples plus L2 (`train.weight_decay`) on
//! the batch's ego rows. Evaluated by the reference protocol: every user
//! ranks all items it has not trained on (Recall@K, NDCG@K), against a
//! popularity baseline computed the same way.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ferrograph_graph::Graph;
use ferrograph_nn::lightgcn::{LightGcn, normalized_adjacency};
use ferrograph_nn::ops::Adj;
use ferrograph_nn::optim::Optimizer;
use ferrograph_nn::{Module, host, record};
use ferrograph_sample::rng::derive;

use super::interactions::RecData;
use super::{Embedding, Export, shape};
use crate::Result;
use crate::checkpoint::Sections;
use crate::config::TrainConfig;
use crate::engine::{Evaluation, Finish, Observer, StepOut, Task};

/// The task.
pub struct LightGcnTask<'g> {
    cfg: &'g TrainConfig,
    g: &'g Graph,
    data: RecData,
    adj: Arc<Adj>,
}

/// The learned state.
pub struct LightGcnModel {
    lgcn: LightGcn,
    optim: Optimizer,
}

impl<'g> LightGcnTask<'g> {
    /// Resolves `cfg` in `g`.
    pub fn new(cfg: &'g TrainConfig, g: &'g Graph) -> Result<Self> {
        let data = RecData::new(cfg, g)?;
        let t = &data.train;
        let adj = Arc::new(normalized_adjacency(t.users, t.items, &t.offsets, &t.items_of));
        Ok(LightGcnTask { cfg, g, data, adj })
    }

    fn final_embeddings(&self, m: &LightGcn) -> (Vec<f32>, Vec<f32>, usize) {
        let e = host(m.valid().propagate(&self.adj, self.cfg.model.layers));
        let dim = self.cfg.model.embedding_dim;
        let (u, i) = e.split_at(self.data.train.users * dim);
        (u.to_vec(), i.to_vec(), dim)
    }
}

impl Task for LightGcnTask<'_> {
    type Model = LightGcnModel;
    type Plan = Vec<[u32; 3]>;
    type Batch = (Vec<u32>, Vec<u32>, Vec<u32>);

    fn selection(&self) -> Option<String> {
        self.data.val.as_ref().map(|_| format!("recall@{}", self.cfg.eval.k[0]))
    }

    fn shape(&self) -> BTreeMap<String, String> {
        shape(&[("users", self.data.train.users.to_string()), ("items", self.data.train.items.to_string())])
    }

    fn init(&self) -> Result<LightGcnModel> {
        let t = &self.cfg.train;
        let n = self.data.train.users + self.data.train.items;
        // L2 on the ego rows is part of the loss (the reference's), so the
        // optimiser itself has no weight decay.
        Ok(LightGcnModel { lgcn: LightGcn::new(n, self.cfg.model.embedding_dim, derive(t.seed, 1)), optim: Optimizer::new(t.optimizer, 0.0) })
    }

    fn plan(&self, epoch: usize) -> Result<Self::Plan> {
        Ok(self.data.epoch_triples(self.cfg.train.seed, epoch))
    }

    fn steps(&self, plan: &Self::Plan) -> usize {
        plan.len().div_ceil(self.cfg.train.batch_size)
    }

    fn prepare(&self, plan: &Self::Plan, _epoch: usize, step: usize) -> Result<Self::Batch> {
        let b = self.cfg.train.batch_size;
        let chunk = &plan[step * b..((step + 1) * b).min(plan.len())];
        let users = self.data.train.users as u32;
        Ok((chunk.iter().map(|t| t[0]).collect(), chunk.iter().map(|t| users + t[1]).collect(), chunk.iter().map(|t| users + t[2]).collect()))
    }

    fn step(&self, model: LightGcnModel, (u, p, n): Self::Batch, _epoch: usize, _step: usize) -> Result<(LightGcnModel, StepOut)> {
        let LightGcnModel { lgcn, mut optim } = model;
        let (loss, _) = lgcn.loss(&self.adj, self.cfg.model.layers, &u, &p, &n, self.cfg.train.weight_decay);
        let (lgcn, lv) = optim.minimize(self.cfg.train.lr, lgcn, loss);
        Ok((LightGcnModel { lgcn, optim }, StepOut { loss: f64::from(lv), examples: u.len(), ..Default::default() }))
    }

    fn evaluate(&self, model: &LightGcnModel, _epoch: usize, _obs: &dyn Observer) -> Result<Evaluation> {
        let (u, i, d) = self.final_embeddings(&model.lgcn);
        Ok(self.data.evaluation(&u, &i, d, &self.cfg.eval.k))
    }

    fn finish(&self, model: &LightGcnModel, out: &Path, obs: &dyn Observer) -> Result<Finish> {
        obs.phase("test");
        let (u, i, d) = self.final_embeddings(&model.lgcn);
        self.data.finish(self.cfg, self.g, &u, &i, d, out)
    }

    fn save(&self, model: &LightGcnModel, optimizer: bool) -> Result<Vec<u8>> {
        let m = record::to_bytes(&model.lgcn)?;
        let o = if optimizer { model.optim.to_bytes()? } else { Vec::new() };
        Ok(Sections::pack(&[&m, &o]))
    }

    fn load(&self, bytes: &[u8]) -> Result<LightGcnModel> {
        let parts = Sections::unpack(bytes, 2, "LightGCN model")?;
        let fresh = self.init()?;
        let lgcn = record::from_bytes(fresh.lgcn, parts[0])?;
        let optim = if parts[1].is_empty() { fresh.optim } else { fresh.optim.with_bytes(parts[1])? };
        Ok(LightGcnModel { lgcn, optim })
    }

    fn describe(&self) -> String {
        let (m, t, d) = (&self.cfg.model, &self.cfg.train, &self.data);
        format!(
            "LightGCN on `{}`: {} users, {} items, {} training interactions{}{}; {} propagation layers, embedding {}, batch {} triples, {} lr {}, L2 {} on the batch's ego rows. Serve it: `ferrograph recommend SNAPSHOT --model {} --user ID -k 20`.",
            self.cfg.data.relation.as_deref().unwrap_or(""),
            d.train.users,
            d.train.items,
            d.train.len(),
            d.val.as_ref().map_or(String::new(), |v| format!(", {} validation", v.len())),
            d.test.as_ref().map_or(String::new(), |v| format!(", {} test", v.len())),
            m.layers,
            m.embedding_dim,
            t.batch_size,
            t.optimizer.name(),
            t.lr,
            t.weight_decay,
            self.cfg.output_dir().display()
        )
    }
}

impl Export for LightGcnTask<'_> {
    fn embeddings(&self, model: &LightGcnModel, _output_layer: bool, _obs: &dyn Observer) -> Result<Vec<Embedding>> {
        let (u, i, d) = self.final_embeddings(&model.lgcn);
        Ok(self.data.embeddings(u, i, d))
    }
}
