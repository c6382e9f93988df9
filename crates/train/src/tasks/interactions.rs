//! User → item interactions (a bipartite relation as CSR rows per user),
//! the BPR triples recommendation trains on, and top-K serving from a
//! trained run (`ferrograph recommend`).

use std::path::Path;

use ferrograph_graph::idmap::ExternalId;
use ferrograph_graph::{Direction, Graph, LocalIdx, NodeTypeId};
use ferrograph_sample::rng::SplitMix;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// User → item lists (CSR rows per user, sorted items).
#[derive(Clone, Debug)]
pub struct Interactions {
    /// Users.
    pub users: usize,
    /// Items.
    pub items: usize,
    /// `users + 1` offsets.
    pub offsets: Vec<u64>,
    /// Items of each user, sorted.
    pub items_of: Vec<u32>,
}

impl Interactions {
    /// From CSR parts of a user → item relation.
    pub fn new(users: usize, items: usize, offsets: &[u64], targets: &[u32]) -> Interactions {
        Interactions { users, items, offsets: offsets.to_vec(), items_of: targets.to_vec() }
    }

    /// The user → item relation `relation` of `g` (rows: the relation's
    /// starting node type).
    pub fn from_graph(g: &ferrograph_graph::Graph, relation: &str) -> Result<Interactions> {
        let (e, dir) = g.schema().relation(relation)?;
        let csr = g.topology(e, dir);
        let (src, dst) = g.endpoint_counts(e);
        let (users, items) = if dir == ferrograph_graph::Direction::Out { (src, dst) } else { (dst, src) };
        Ok(Interactions::new(users, items, csr.offsets.as_slice(), csr.targets.as_slice()))
    }

    /// Items of user `u`.
    pub fn row(&self, u: usize) -> &[u32] {
        &self.items_of[self.offsets[u] as usize..self.offsets[u + 1] as usize]
    }

    /// Interactions.
    pub fn len(&self) -> usize {
        self.items_of.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items_of.is_empty()
    }
}

/// Users that can be trained on: at least one item seen and at least one
/// not seen (a user who has seen every item has no negative to rank below).
pub fn trainable_users(r: &Interactions) -> Vec<u32> {
    (0..r.users as u32).filter(|&u| !r.row(u as usize).is_empty() && r.row(u as usize).len() < r.items).collect()
}

/// `count` BPR triples: a user drawn uniformly among `users`, one of their
/// items, and an item they have not seen. Every user must be trainable
/// ([`trainable_users`]), so each draw ends: the unseen item is drawn by
/// rejection when the user has seen at most half the items, else chosen
/// directly among the unseen ones.
pub fn triples(r: &Interactions, users: &[u32], count: usize, rng: &mut SplitMix) -> Vec<[u32; 3]> {
    let mut out = Vec::with_capacity(count);
    if users.is_empty() {
        return out;
    }
    while out.len() < count {
        let u = users[rng.below(users.len() as u64) as usize];
        let row = r.row(u as usize);
        let i = row[rng.below(row.len() as u64) as usize];
        let j = if row.len() * 2 <= r.items {
            loop {
                let j = rng.below(r.items as u64) as u32;
                if row.binary_search(&j).is_err() {
                    break j;
                }
            }
        } else {
            // The k-th unseen item, k uniform among the unseen.
            let mut k = rng.below((r.items - row.len()) as u64) as u32;
            let mut j = 0u32;
            for &seen in row {
                let gap = seen - j;
                if k < gap {
                    break;
                }
                k -= gap;
                j = seen + 1;
            }
            j + k
        };
        out.push([u, i, j]);
    }
    out
}

/// The user and item node types of `relation` (walked from users to items).
pub fn endpoints(g: &Graph, relation: &str) -> std::result::Result<(NodeTypeId, NodeTypeId), String> {
    let (e, dir) = g.schema().relation(relation).map_err(|e| e.to_string())?;
    let et = &g.schema().edge_types[e.0 as usize];
    let (s, d) = (g.schema().node_type(&et.src).map_err(|e| e.to_string())?, g.schema().node_type(&et.dst).map_err(|e| e.to_string())?);
    Ok(if dir == Direction::Out { (s, d) } else { (d, s) })
}

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
    let bytes = std::fs::read(&meta_path)
        .map_err(|e| Error::Data(format!("{}: {e} (train a recommendation config first: `ferrograph train CONFIG`)", meta_path.display())))?;
    let meta: Recommender = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt { path: meta_path.clone(), message: e.to_string() })?;
    let (users, items) = endpoints(g, &meta.relation).map_err(|e| Error::Data(format!("{}: {e}", meta_path.display())))?;
    let load = |f: &str, rows: usize| -> Result<Vec<f32>> {
        let p = model_dir.join(f);
        let a = ferrograph_io::npy::read_npy(&p)?;
        match a.data {
            ferrograph_io::npy::NpyData::Float(v) if a.shape == [rows, meta.dim] => Ok(v),
            _ => Err(Error::Corrupt { path: p, message: format!("expected float32 [{rows}, {}] for this snapshot", meta.dim) }),
        }
    };
    let (nu, ni) = (g.node_count(users), g.node_count(items));
    let (ue, ie) = (load(&meta.users, nu)?, load(&meta.items, ni)?);
    let ids = g.checked_ids(users)?;
    let found = match ids.kind() {
        ferrograph_graph::IdKind::String => ids.lookup_str(user),
        _ => user.trim().parse::<i64>().ok().and_then(|x| ids.lookup_int(x)),
    };
    let Some(LocalIdx(u)) = found else {
        return Err(Error::Data(format!("user `{user}` is not a `{}` node of this snapshot", meta.user_type)));
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
    let item_ids = g.checked_ids(items)?;
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

/// The relations a recommendation config names, resolved and checked:
/// users, items, and the training, validation and test interactions.
pub struct RecData {
    /// The user node type.
    pub users: NodeTypeId,
    /// The item node type.
    pub items: NodeTypeId,
    /// `data.relation`.
    pub train: Interactions,
    /// `data.val_relation`.
    pub val: Option<Interactions>,
    /// `data.test_relation`.
    pub test: Option<Interactions>,
    /// Users with something to rank ([`trainable_users`]).
    pub trainable: Vec<u32>,
}

impl RecData {
    /// Resolves the config's relations in `g`; every mistake names its field.
    pub fn new(cfg: &crate::config::TrainConfig, g: &Graph) -> Result<RecData> {
        let rel = cfg.data.relation.as_deref().ok_or_else(|| cfg.field("data.relation", "name the user → item relation to train on"))?;
        let (users, items) = endpoints(g, rel).map_err(|e| cfg.field("data.relation", e))?;
        if users == items {
            return Err(cfg.field("data.relation", format!("relation `{rel}` joins a node type to itself; recommendation needs users → items")));
        }
        let train = Interactions::from_graph(g, rel).map_err(|e| cfg.field("data.relation", e))?;
        let other = |field: &str, name: &Option<String>| -> Result<Option<Interactions>> {
            let Some(t) = name else { return Ok(None) };
            let ends = endpoints(g, t).map_err(|e| cfg.field(field, e))?;
            if ends != (users, items) {
                return Err(cfg.field(field, format!("relation `{t}` does not join the same user and item types as `{rel}`")));
            }
            Ok(Some(Interactions::from_graph(g, t).map_err(|e| cfg.field(field, e))?))
        };
        let val = other("data.val_relation", &cfg.data.val_relation)?;
        let test = other("data.test_relation", &cfg.data.test_relation)?;
        let trainable = trainable_users(&train);
        if trainable.is_empty() {
            return Err(cfg.field(
                "data.relation",
                format!(
                    "no user of `{rel}` has both a seen and an unseen item ({} users, {} items, {} interactions): nothing to rank",
                    train.users,
                    train.items,
                    train.len()
                ),
            ));
        }
        Ok(RecData { users, items, train, val, test, trainable })
    }

    /// Recall@K and NDCG@K for every K of `ks` on `truth` (training items excluded).
    pub fn ranking(&self, user_emb: &[f32], item_emb: &[f32], dim: usize, truth: &Interactions, ks: &[usize]) -> crate::record::Metrics {
        let mut m = crate::record::Metrics::new();
        for &k in ks {
            let (r, n) = crate::metrics::recall_ndcg(user_emb, item_emb, dim, &self.train, truth, k);
            m.insert(format!("recall@{k}"), r);
            m.insert(format!("ndcg@{k}"), n);
        }
        m
    }

    /// Validation metrics (or, without a validation relation, test metrics
    /// to monitor, labelled as test).
    pub fn evaluation(&self, user_emb: &[f32], item_emb: &[f32], dim: usize, ks: &[usize]) -> crate::engine::Evaluation {
        match (&self.val, &self.test) {
            (Some(v), _) => crate::engine::Evaluation { val: self.ranking(user_emb, item_emb, dim, v, ks), test: Default::default() },
            (None, Some(t)) => crate::engine::Evaluation { val: Default::default(), test: self.ranking(user_emb, item_emb, dim, t, ks) },
            (None, None) => Default::default(),
        }
    }

    /// The finish of a recommendation run: test metrics, the popularity
    /// baseline under the same protocol, the user and item embeddings and
    /// `recommender.json`.
    pub fn finish(
        &self,
        cfg: &crate::config::TrainConfig,
        g: &Graph,
        user_emb: &[f32],
        item_emb: &[f32],
        dim: usize,
        out: &Path,
    ) -> Result<crate::engine::Finish> {
        let t0 = std::time::Instant::now();
        let ks = &cfg.eval.k;
        let (mut test, mut baseline) = (crate::record::Metrics::new(), crate::record::Metrics::new());
        if let Some(t) = &self.test {
            test = self.ranking(user_emb, item_emb, dim, t, ks);
            for &k in ks {
                let (r, n) = crate::metrics::popularity_baseline(&self.train, t, k);
                baseline.insert(format!("popularity recall@{k}"), r);
                baseline.insert(format!("popularity ndcg@{k}"), n);
            }
        }
        let test_s = t0.elapsed().as_secs_f64();
        let t1 = std::time::Instant::now();
        let mut files = crate::export::write_embeddings(g, self.users, user_emb, dim, out, "user_embeddings")?;
        files.extend(crate::export::write_embeddings(g, self.items, item_emb, dim, out, "item_embeddings")?);
        let rec = Recommender {
            relation: cfg.data.relation.clone().unwrap_or_default(),
            user_type: g.schema().node_types[self.users.0 as usize].name.clone(),
            item_type: g.schema().node_types[self.items.0 as usize].name.clone(),
            dim,
            users: "user_embeddings.npy".into(),
            items: "item_embeddings.npy".into(),
        };
        crate::write_file(&out.join("recommender.json"), serde_json::to_string_pretty(&rec).unwrap_or_default().as_bytes())?;
        files.push("recommender.json".into());
        let phases = [("test".to_string(), test_s), ("export".to_string(), t1.elapsed().as_secs_f64())].into_iter().collect();
        Ok(crate::engine::Finish { test, baseline, files, phases })
    }

    /// The epoch's BPR triples, from `(seed, epoch)`: as many as there are
    /// training interactions.
    pub fn epoch_triples(&self, seed: u64, epoch: usize) -> Vec<[u32; 3]> {
        let mut rng = SplitMix::new(ferrograph_sample::rng::derive(seed, 2000 + epoch as u64));
        triples(&self.train, &self.trainable, self.train.len(), &mut rng)
    }

    /// The embedding tables of a run.
    pub fn embeddings(&self, user_emb: Vec<f32>, item_emb: Vec<f32>, dim: usize) -> Vec<super::Embedding> {
        vec![
            super::Embedding { node_type: self.users, stem: "user_embeddings".into(), values: user_emb, dim },
            super::Embedding { node_type: self.items, stem: "item_embeddings".into(), values: item_emb, dim },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_end_for_users_who_have_seen_almost_everything() {
        // User 0 has seen 3 of 4 items, user 1 all 4 (not trainable), user 2 one.
        let r = Interactions::new(3, 4, &[0, 3, 7, 8], &[0, 1, 3, 0, 1, 2, 3, 2]);
        let users = trainable_users(&r);
        assert_eq!(users, vec![0, 2]);
        let mut rng = SplitMix::new(1);
        let t = triples(&r, &users, 2000, &mut rng);
        for [u, i, j] in &t {
            let row = r.row(*u as usize);
            assert!(row.binary_search(i).is_ok() && row.binary_search(j).is_err(), "{u} {i} {j}");
        }
        assert!(t.iter().filter(|x| x[0] == 0).all(|x| x[2] == 2), "user 0's only unseen item is 2");
        assert!(triples(&r, &[], 10, &mut rng).is_empty());
    }
}
