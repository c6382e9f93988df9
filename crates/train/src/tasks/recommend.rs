//! `task = "recommendation"`: a bipartite user → item relation, LightGCN or
//! bipartite GraphSAGE (user and item towers), evaluated like LightGCN
//! (every test user ranks all items it has not trained on; Recall@K and
//! NDCG@K) against a popularity baseline computed the same way. Writes the
//! user and item embeddings and `recommender.json`, which `ferrograph
//! recommend` reads to serve top-K items for a user.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use ferrograph_graph::idmap::ExternalId;
use ferrograph_graph::{Direction, Graph, LocalIdx, NodeTypeId};
use serde::{Deserialize, Serialize};

use super::{Log, TaskEpoch, TaskSummary, finish, write_embeddings};
use crate::bipartite::train_bipartite;
use crate::config::TrainConfig;
use crate::lightgcn::{Interactions, LightGcnConfig, popularity_baseline, recall_ndcg, train_lightgcn_with};
use crate::model::ModelKind;
use crate::tasks::link::link_config;
use crate::trainer::{host, write_atomic};
use crate::{Error, Result};

/// `recommender.json`: what `ferrograph recommend` needs besides the snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Recommender {
    /// The training relation (user → item).
    pub relation: String,
    /// User node type.
    pub user_type: String,
    /// Item node type.
    pub item_type: String,
    /// Embedding width.
    pub dim: usize,
    /// User embeddings (float32 `[users, dim]`), relative to the run folder.
    pub users: String,
    /// Item embeddings (float32 `[items, dim]`).
    pub items: String,
}

/// The user and item node types of `relation` (walked from users to items).
fn endpoints(g: &Graph, relation: &str) -> std::result::Result<(NodeTypeId, NodeTypeId), String> {
    let (e, dir) = g.schema().relation(relation).map_err(|e| e.to_string())?;
    let et = &g.schema().edge_types[e.0 as usize];
    let (s, d) = (g.schema().node_type(&et.src).map_err(|e| e.to_string())?, g.schema().node_type(&et.dst).map_err(|e| e.to_string())?);
    Ok(if dir == Direction::Out { (s, d) } else { (d, s) })
}

pub(super) fn run(cfg: &TrainConfig, g: &Graph, out: &Path, mut log: Log, on_epoch: &dyn Fn(&TaskEpoch)) -> Result<TaskSummary> {
    let started = Instant::now();
    let rel = cfg.data.relation.as_deref().ok_or_else(|| cfg.field("data.relation", "name the user → item relation"))?;
    let (users, items) = endpoints(g, rel).map_err(|e| cfg.field("data.relation", e))?;
    if users == items {
        return Err(cfg.field("data.relation", format!("relation `{rel}` joins a node type to itself; recommendation needs users → items")));
    }
    let train = Interactions::from_graph(g, rel).map_err(|e| cfg.field("data.relation", e))?;
    let test = match &cfg.data.test_relation {
        Some(t) => {
            let ends = endpoints(g, t).map_err(|e| cfg.field("data.test_relation", e))?;
            if ends != (users, items) {
                return Err(cfg.field("data.test_relation", format!("relation `{t}` does not join the same user and item types as `{rel}`")));
            }
            Some(Interactions::from_graph(g, t).map_err(|e| cfg.field("data.test_relation", e))?)
        }
        None => None,
    };
    let ks = cfg.eval.k.clone();
    let evaluate = |u: &[f32], i: &[f32], dim: usize| -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        if let Some(test) = &test {
            for &k in &ks {
                let (r, n) = recall_ndcg(u, i, dim, &train, test, k);
                m.insert(format!("recall@{k}"), r);
                m.insert(format!("ndcg@{k}"), n);
            }
        }
        m
    };
    let t = &cfg.train;
    let dim = cfg.model.embedding_dim;
    let (user_emb, item_emb, dim) = match cfg.model.kind {
        ModelKind::LightGcn => {
            let defaults = LightGcnConfig::default();
            let lc = LightGcnConfig {
                dim,
                layers: cfg.model.layers,
                lr: t.lr,
                batch_size: t.batch_size,
                epochs: t.epochs,
                seed: t.seed,
                l2: if t.weight_decay > 0.0 { t.weight_decay } else { defaults.l2 },
            };
            // LightGCN's protocol has no validation split: the test metrics
            // are logged as training goes (`eval.every`), and the last
            // epoch's model is kept, so nothing is selected on them.
            let none = Interactions::new(train.users, train.items, &vec![0; train.users + 1], &[]);
            let (every, probe) = match &test {
                Some(x) => (cfg.eval.every, x),
                None => (usize::MAX, &none),
            };
            let k0 = ks[0];
            let mut failed = None;
            let (model, _) = train_lightgcn_with(&train, probe, k0, every, &lc, &mut |r| {
                let mut metrics = BTreeMap::new();
                if let (Some((recall, ndcg)), Some(_)) = (r.eval, &test) {
                    metrics.insert(format!("recall@{k0}"), recall);
                    metrics.insert(format!("ndcg@{k0}"), ndcg);
                }
                if failed.is_none()
                    && let Err(e) = log.push(TaskEpoch { epoch: r.epoch, loss: r.loss, seconds: r.seconds, metrics }, on_epoch)
                {
                    failed = Some(e);
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            let adj = std::sync::Arc::new(crate::lightgcn::normalized_adjacency(&train));
            let e = host(model.propagate(&adj, lc.layers).detach());
            let (u, i) = e.split_at(train.users * dim);
            (u.to_vec(), i.to_vec(), dim)
        }
        _ => {
            let lc = link_config(cfg);
            let mut since = Instant::now();
            let towers = train_bipartite(&train, &lc, &mut |epoch, loss| {
                let seconds = since.elapsed().as_secs_f64();
                since = Instant::now();
                log.push(TaskEpoch { epoch, loss, seconds, metrics: Default::default() }, on_epoch)
            })?;
            (towers.users, towers.items, towers.dim)
        }
    };
    let metrics = evaluate(&user_emb, &item_emb, dim);
    let mut baseline = BTreeMap::new();
    if let Some(test) = &test {
        for &k in &ks {
            let (r, n) = popularity_baseline(&train, test, k);
            baseline.insert(format!("popularity recall@{k}"), r);
            baseline.insert(format!("popularity ndcg@{k}"), n);
        }
    }
    let mut files = write_embeddings(g, users, &user_emb, dim, out, "user_embeddings")?;
    files.extend(write_embeddings(g, items, &item_emb, dim, out, "item_embeddings")?);
    let rec = Recommender {
        relation: rel.to_string(),
        user_type: g.schema().node_types[users.0 as usize].name.clone(),
        item_type: g.schema().node_types[items.0 as usize].name.clone(),
        dim,
        users: "user_embeddings.npy".into(),
        items: "item_embeddings.npy".into(),
    };
    write_atomic(&out.join("recommender.json"), serde_json::to_string_pretty(&rec).expect("serialises").as_bytes())?;
    files.push("recommender.json".into());
    let summary = TaskSummary { baseline, ..TaskSummary::new(cfg, t.epochs, t.epochs, started, Default::default(), metrics, files) };
    let body = format!(
        "Users `{}` ({}), items `{}` ({}), {} training interactions in `{rel}`{}. Model {}: embedding {dim}{}; batch {}, Adam lr {}, {} epochs.\n\nServe it: `ferrograph recommend SNAPSHOT --model {} --user ID -k 20`.\n",
        rec.user_type,
        train.users,
        rec.item_type,
        train.items,
        train.len(),
        match (&cfg.data.test_relation, &test) {
            (Some(t), Some(x)) => format!(", {} test interactions in `{t}`", x.len()),
            _ => String::new(),
        },
        cfg.model.kind.name(),
        if cfg.model.kind == ModelKind::LightGcn { format!(", {} layers", cfg.model.layers) } else { format!(", hidden {:?}", cfg.model.hidden) },
        t.batch_size,
        t.lr,
        t.epochs,
        out.display()
    );
    finish(out, cfg, &summary, &log.history, &format!("recall@{}", ks[0]), &body)?;
    Ok(summary)
}

/// One recommended item.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Recommendation {
    /// The item's external id.
    pub item: String,
    /// `user · item`.
    pub score: f32,
}

/// The top `k` items for the user with external id `user` (items the user
/// already has in the training relation excluded), from the run in `model_dir`.
pub fn recommend(g: &Graph, model_dir: &Path, user: &str, k: usize) -> Result<Vec<Recommendation>> {
    let meta_path = model_dir.join("recommender.json");
    let meta: Recommender = serde_json::from_slice(
        &std::fs::read(&meta_path)
            .map_err(|e| Error::Io(format!("{}: {e} (train a recommendation config first: `ferrograph train CONFIG`)", meta_path.display())))?,
    )
    .map_err(|e| Error::Io(format!("{}: {e}", meta_path.display())))?;
    let (users, items) = endpoints(g, &meta.relation).map_err(|e| Error::Invalid(format!("{}: {e}", meta_path.display())))?;
    let load = |f: &str, rows: usize| -> Result<Vec<f32>> {
        let p = model_dir.join(f);
        let a = ferrograph_io::npy::read_npy(&p).map_err(|e| Error::Io(e.to_string()))?;
        match a.data {
            ferrograph_io::npy::NpyData::Float(v) if a.shape == [rows, meta.dim] => Ok(v),
            _ => Err(Error::Io(format!("{}: expected float32 [{rows}, {}] for this snapshot", p.display(), meta.dim))),
        }
    };
    let (nu, ni) = (g.node_count(users), g.node_count(items));
    let (ue, ie) = (load(&meta.users, nu)?, load(&meta.items, ni)?);
    let ids = &g.nodes(users).ids;
    let found = match ids.kind() {
        ferrograph_graph::IdKind::String => ids.lookup_str(user),
        _ => user.trim().parse::<i64>().ok().and_then(|x| ids.lookup_int(x)),
    };
    let Some(LocalIdx(u)) = found else {
        return Err(Error::Invalid(format!("user `{user}` is not a `{}` node of this snapshot", meta.user_type)));
    };
    let train = Interactions::from_graph(g, &meta.relation)?;
    let seen = train.row(u as usize);
    let d = meta.dim;
    let eu = &ue[u as usize * d..][..d];
    let mut scored: Vec<(f32, u32)> = (0..ni as u32)
        .filter(|i| seen.binary_search(i).is_err())
        .map(|i| (eu.iter().zip(&ie[i as usize * d..][..d]).map(|(a, b)| a * b).sum::<f32>(), i))
        .collect();
    let k = k.min(scored.len());
    if k < scored.len() {
        scored.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(k);
    }
    scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let item_ids = &g.nodes(items).ids;
    Ok(scored
        .into_iter()
        .map(|(score, i)| Recommendation {
            item: match item_ids.external(LocalIdx(i)) {
                ExternalId::Int(v) => v.to_string(),
                ExternalId::Str(s) => s,
            },
            score,
        })
        .collect())
}
