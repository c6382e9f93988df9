//! `task = "link_prediction"`: an encoder (`sage`, `gcn`, `gat`) trained
//! edge by edge on the config's relation against sampled negatives
//! ([`crate::linktrain`]), input from a feature column or a learnable table;
//! validation on the held-out pairs of `ferrograph split-edges` (AUC, MRR,
//! Hits@K) picks the kept epoch, which is tested at the end.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use ferrograph_graph::Graph;
use ferrograph_sample::LocalGraph;

use super::{Heldout, Log, TaskEpoch, TaskSummary, finish, link_metrics, write_embeddings};
use crate::config::TrainConfig;
use crate::linktrain::{Input, LinkSage, LinkSageConfig, train_link};
use crate::trainer::write_atomic;
use crate::{Error, Result};

/// The edge-level training config a [`TrainConfig`] describes.
pub fn link_config(cfg: &TrainConfig) -> LinkSageConfig {
    let (t, l) = (&cfg.train, &cfg.link);
    LinkSageConfig {
        model: cfg.model.clone(),
        input_dim: cfg.model.input_dim,
        out_dim: cfg.model.embedding_dim,
        fanouts: t.fanouts.clone(),
        batch_size: t.batch_size,
        epochs: t.epochs,
        lr: t.lr,
        seed: t.seed,
        negatives: l.negatives,
        negative: l.negative,
        strict: l.strict,
        score: l.score,
        loss: l.loss,
        temperature: l.temperature,
    }
}

/// The encoder's input named by the config.
pub fn input<'g>(cfg: &TrainConfig, g: &'g Graph, node_type: ferrograph_graph::NodeTypeId) -> Result<Input<'g>> {
    match &cfg.data.features {
        None => Ok(Input::Table),
        Some(name) => {
            let c = g.node_column(node_type, name).map_err(|e| cfg.field("data.features", e))?;
            if ferrograph_sample::features::width(c) == 0 {
                return Err(cfg.field("data.features", format!("column `{name}` is {}, not numeric features", c.kind().describe())));
            }
            Ok(Input::Features(c))
        }
    }
}

/// The model file of a run.
pub const MODEL_FILE: &str = "model.bin";

/// Loads the model a run wrote into `out`, for `cfg` on `g`.
pub fn load_into<'g>(cfg: &TrainConfig, g: &'g Graph, out: &Path) -> Result<(LinkSage, Input<'g>, ferrograph_sample::Relation)> {
    let (node_type, rel) = cfg.self_relation(g)?;
    let input = input(cfg, g, node_type)?;
    let path = out.join(MODEL_FILE);
    let bytes = std::fs::read(&path).map_err(|e| Error::Io(format!("{}: {e} (train first: `ferrograph train CONFIG`)", path.display())))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| Error::Io(format!("{}: {e:?}", path.display())))?;
    let model = LinkSage::new(&link_config(cfg), g.node_count(node_type), input).load_record(record);
    Ok((model, input, rel))
}

pub(super) fn run(cfg: &TrainConfig, g: &Graph, out: &Path, mut log: Log, on_epoch: &dyn Fn(&TaskEpoch)) -> Result<TaskSummary> {
    let started = Instant::now();
    let (node_type, rel) = cfg.self_relation(g)?;
    let n = g.node_count(node_type);
    let input = input(cfg, g, node_type)?;
    let heldout = cfg.data.heldout.as_ref().map(|d| Heldout::load(cfg, &cfg.resolve(d), n)).transpose()?;
    let local = LocalGraph::new(g);
    let lc = link_config(cfg);
    let ks = &cfg.eval.k;
    let mut best: Option<(f64, usize, LinkSage)> = None;
    let mut epoch_start = Instant::now();
    let last = lc.epochs;
    let model = train_link(&local, rel, &lc, input, &mut |epoch, loss, model| {
        let seconds = epoch_start.elapsed().as_secs_f64();
        let mut metrics = Default::default();
        if let Some(h) = &heldout
            && !h.val.is_empty()
            && (epoch % cfg.eval.every == 0 || epoch == last)
        {
            let (emb, dim) = model.embed_all(&local, rel, n, input)?;
            metrics = link_metrics(&emb, dim, &h.val, &h.val_neg, ks);
            let auc = metrics.get("auc").copied().unwrap_or(f64::NAN);
            if best.as_ref().is_none_or(|b| auc > b.0) {
                best = Some((auc, epoch, model.clone()));
            }
        }
        log.push(TaskEpoch { epoch, loss, seconds, metrics }, on_epoch)?;
        epoch_start = Instant::now();
        Ok(())
    })?;
    let (best_epoch, model) = match best {
        Some((_, e, m)) => (e, m),
        None => (last, model),
    };
    let (emb, dim) = model.embed_all(&local, rel, n, input)?;
    let (val, test) = match &heldout {
        Some(h) => h.metrics(&emb, dim, ks),
        None => Default::default(),
    };
    let bytes = model.clone().into_record().into_bytes().map_err(|e| Error::Io(format!("{MODEL_FILE}: {e:?}")))?;
    write_atomic(&out.join(MODEL_FILE), &bytes)?;
    let mut files = vec![MODEL_FILE.to_string()];
    files.extend(write_embeddings(g, node_type, &emb, dim, out, "embeddings")?);
    let summary = TaskSummary::new(cfg, last, best_epoch, started, val, test, files);
    let body = format!(
        "Encoder {} (hidden {:?}, embedding {}), input {}; {} negative(s) per edge ({:?}{}), {:?} score, {:?} loss; fan-outs {:?}, batch {}, Adam lr {}.\n{}",
        cfg.model.kind.name(),
        cfg.model.hidden,
        cfg.model.embedding_dim,
        match input {
            Input::Table => format!("a learnable {}-wide table", cfg.model.input_dim),
            Input::Features(_) => format!("feature column `{}`", cfg.data.features.as_deref().unwrap_or("")),
        },
        lc.negatives,
        lc.negative,
        if lc.strict { ", strict" } else { "" },
        lc.score,
        lc.loss,
        lc.fanouts,
        lc.batch_size,
        lc.lr,
        if heldout.is_none() { "\nNo `data.heldout` was given, so nothing was evaluated.\n" } else { "" }
    );
    finish(out, cfg, &summary, &log.history, "auc", &body)?;
    Ok(summary)
}
