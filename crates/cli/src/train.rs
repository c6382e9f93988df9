//! `ferrograph train`, `embed` and the training half of `quickstart`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use ferrograph_graph::Graph;
use ferrograph_train::config::{Task, TrainConfig};
use ferrograph_train::report::{EmbedLayer, export_embeddings, write_outputs};
use ferrograph_train::tasks::TaskEpoch;
use ferrograph_train::trainer::{Data, EpochRecord, Observer, RunOptions, Summary, load_model, paths, train};
use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Bars;

/// Loads the graph a config names.
pub fn load_graph(cfg: &TrainConfig, bars: &Bars) -> Result<Graph> {
    let d = &cfg.data;
    if let Some(s) = &d.snapshot {
        let dir = cfg.resolve(s);
        return Ok(ferrograph_graph::snapshot::open(&dir)?.graph);
    }
    if let Some(i) = &d.import {
        return Ok(ferrograph_io::import_file(&cfg.resolve(i), bars)?);
    }
    Ok(ferrograph_io::generate::Planted::default().graph()?)
}

/// A progress bar per epoch on stderr (when it is a terminal), and one
/// summary line per epoch.
struct EpochBars {
    bar: std::cell::RefCell<Option<ProgressBar>>,
    quiet: bool,
}

impl Observer for EpochBars {
    fn epoch_start(&self, epoch: usize, steps: usize) {
        if self.quiet {
            return;
        }
        let b = ProgressBar::new(steps as u64);
        b.set_style(
            ProgressStyle::with_template("epoch {prefix:>3} [{bar:30}] {pos}/{len} {per_sec} loss {msg}").expect("template").progress_chars("=> "),
        );
        b.set_prefix(epoch.to_string());
        b.enable_steady_tick(Duration::from_millis(200));
        *self.bar.borrow_mut() = Some(b);
    }

    fn step(&self, loss: f32) {
        if let Some(b) = &*self.bar.borrow() {
            b.set_message(format!("{loss:.4}"));
            b.inc(1);
        }
    }

    fn epoch_end(&self, r: &EpochRecord) {
        if let Some(b) = self.bar.borrow_mut().take() {
            b.finish_and_clear();
        }
        if !self.quiet {
            eprintln!(
                "epoch {:>3}  loss {:.4}  train acc {:.4}  val acc {:.4}  {:.1} steps/s  waited {:.1}%  ({:.2}s + eval {:.2}s)",
                r.epoch,
                r.loss,
                r.train_accuracy,
                r.val_accuracy,
                r.steps_per_second,
                r.wait_fraction * 100.0,
                r.train_seconds,
                r.eval_seconds
            );
        }
    }
}

/// Trains per the config at `path` (or the given config) and writes every
/// output; returns the summary and the output directory.
pub fn run_training(cfg: &TrainConfig, opts: &RunOptions, bars: &Bars, quiet: bool) -> Result<(Summary, PathBuf)> {
    let g = load_graph(cfg, bars)?;
    if cfg.model.kind.is_hetero() {
        if opts.resume || opts.abort_after_steps.is_some() {
            anyhow::bail!("--resume and --abort-after-steps are not available for heterogeneous models yet");
        }
        let out = cfg.resolve(&cfg.output);
        let obs = EpochBars { bar: Default::default(), quiet };
        let o = ferrograph_train::hetero::trainer::train(cfg, &g, &out, &obs)?;
        let (values, dim) = &o.embeddings;
        ferrograph_train::report::write_embedding_files(
            &g,
            o.resolved.target,
            values,
            *dim,
            Some(&out.join("embeddings.npy")),
            Some(&out.join("embeddings.parquet")),
        )?;
        let extra = format!(
            "\nRelations: {}{}. Embeddings of all {} `{}` nodes (last hidden layer, width {dim}, exact inference over full neighbourhoods): `embeddings.npy`, `embeddings.parquet`; model `model.bin`.\n",
            o.resolved.relation_names.join(", "),
            if o.resolved.metapath_names.is_empty() { String::new() } else { format!("; metapaths {}", o.resolved.metapath_names.join(", ")) },
            values.len() / dim.max(&1),
            cfg.data.node_type
        );
        write_outputs(&out, cfg, &o.summary, &o.history, &extra)?;
        return Ok((o.summary, out));
    }
    let data = Data::new(cfg, &g)?;
    let out = cfg.resolve(&cfg.output);
    let obs = EpochBars { bar: Default::default(), quiet };
    let (summary, history) = train(cfg, &data, &out, opts, &obs)?;
    let best = load_model(&paths(&out).1, cfg.model.init(data.r.dim, data.r.classes, cfg.train.seed))?;
    let (n, dim) = export_embeddings(
        &best,
        &data,
        cfg.model.kind,
        EmbedLayer::Hidden,
        Some(&out.join("embeddings.npy")),
        Some(&out.join("embeddings.parquet")),
    )?;
    let extra = format!(
        "\nEmbeddings of all {n} nodes (last hidden layer, width {dim}, exact layer-wise inference): `embeddings.npy`, `embeddings.parquet`.\n"
    );
    write_outputs(&out, cfg, &summary, &history, &extra)?;
    Ok((summary, out))
}

/// `ferrograph train` for link prediction, recommendation and embedding.
pub fn run_task(cfg: &TrainConfig, bars: &Bars) -> Result<()> {
    let g = load_graph(cfg, bars)?;
    let out = cfg.resolve(&cfg.output);
    let show = |r: &TaskEpoch| {
        let m: Vec<String> = r.metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        if r.loss.is_finite() {
            eprintln!("epoch {:>3}  loss {:.4}  {}  ({:.2}s)", r.epoch, r.loss, m.join("  "), r.seconds);
        } else {
            eprintln!("trained {} epoch(s)  {}  ({:.2}s)", r.epoch, m.join("  "), r.seconds);
        }
    };
    let s = ferrograph_train::tasks::run(cfg, &g, &out, &show)?;
    let fmt = |m: &std::collections::BTreeMap<String, f64>| m.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join("  ");
    if !s.test.is_empty() {
        println!("test: {}", fmt(&s.test));
    }
    if !s.baseline.is_empty() {
        println!("baseline: {}", fmt(&s.baseline));
    }
    println!("{} ({}): {} epoch(s), kept epoch {}, {:.1}s", cfg.task.name(), cfg.model.kind.name(), s.epochs, s.best_epoch, s.seconds);
    println!("report: {}", out.join("report.md").display());
    Ok(())
}

/// `ferrograph embed`.
pub fn embed(config: &Path, checkpoint: Option<&Path>, output_layer: bool, out: &Path, bars: &Bars) -> Result<()> {
    let cfg = TrainConfig::load(config)?;
    let g = load_graph(&cfg, bars)?;
    if cfg.task != Task::NodeClassification {
        return embed_task(&cfg, &g, out);
    }
    if cfg.model.kind.is_hetero() {
        let run = cfg.resolve(&cfg.output);
        let (model, tables, r) = ferrograph_train::hetero::trainer::load(&cfg, &g, &run)?;
        let han_hops = match model {
            ferrograph_train::hetero::model::HeteroModel::Han(_) => {
                Some(ferrograph_train::hetero::trainer::han_eval_hops(&cfg, &g, &r, &ferrograph_sample::LocalGraph::new(&g))?)
            }
            _ => None,
        };
        let (logits, hidden, width) = ferrograph_train::hetero::trainer::infer(&model, &g, &r, &tables, han_hops.as_deref())?;
        let (values, dim) = if output_layer { (logits, r.classes) } else { (hidden, width) };
        let (npy, parquet) = (out.with_extension("npy"), out.with_extension("parquet"));
        ferrograph_train::report::write_embedding_files(&g, r.target, &values, dim, Some(&npy), Some(&parquet))?;
        println!("wrote {} × {dim} embeddings to {} and {}", values.len() / dim.max(1), npy.display(), parquet.display());
        return Ok(());
    }
    let data = Data::new(&cfg, &g)?;
    let ckpt = checkpoint.map_or_else(|| paths(&cfg.resolve(&cfg.output)).1, Path::to_path_buf);
    let model =
        load_model(&ckpt, cfg.model.init(data.r.dim, data.r.classes, cfg.train.seed)).with_context(|| "train first: `ferrograph train CONFIG`")?;
    let layer = if output_layer { EmbedLayer::Output } else { EmbedLayer::Hidden };
    let npy = out.with_extension("npy");
    let parquet = out.with_extension("parquet");
    let (n, dim) = export_embeddings(&model, &data, cfg.model.kind, layer, Some(&npy), Some(&parquet))?;
    println!("wrote {n} × {dim} embeddings to {} and {}", npy.display(), parquet.display());
    Ok(())
}

/// `ferrograph embed` for the other tasks: link prediction re-runs exact
/// inference with the saved model; embedding and recommendation runs
/// export the embeddings they trained (for recommendation, users to
/// `OUT-users` and items to `OUT-items`).
fn embed_task(cfg: &TrainConfig, g: &Graph, out: &Path) -> Result<()> {
    let run = cfg.resolve(&cfg.output);
    let npy = |p: &Path| -> Result<(Vec<f32>, usize)> {
        let a = ferrograph_io::npy::read_npy(p).with_context(|| "train first: `ferrograph train CONFIG`")?;
        match a.data {
            ferrograph_io::npy::NpyData::Float(v) if a.shape.len() == 2 => Ok((v, a.shape[1])),
            _ => anyhow::bail!("{}: not a float32 matrix", p.display()),
        }
    };
    let write = |node_type, values: &[f32], dim, path: &Path| -> Result<()> {
        let (n, p) = (path.with_extension("npy"), path.with_extension("parquet"));
        ferrograph_train::report::write_embedding_files(g, node_type, values, dim, Some(&n), Some(&p))?;
        println!("wrote {} × {dim} embeddings to {} and {}", values.len() / dim.max(1), n.display(), p.display());
        Ok(())
    };
    match cfg.task {
        Task::LinkPrediction => {
            let (model, input, rel) = ferrograph_train::tasks::link::load_into(cfg, g, &run)?;
            let n = g.node_count(rel.from);
            let (values, dim) = model.embed_all(&ferrograph_sample::LocalGraph::new(g), rel, n, input)?;
            write(rel.from, &values, dim, out)
        }
        Task::Embedding => {
            let node_type = if cfg.model.kind == ferrograph_train::model::ModelKind::Gatne {
                ferrograph_train::tasks::embedding::gatne_relations(cfg, g)?.0
            } else {
                cfg.self_relation(g)?.0
            };
            let (values, dim) = npy(&run.join("embeddings.npy"))?;
            write(node_type, &values, dim, out)
        }
        Task::Recommendation => {
            let meta: ferrograph_train::tasks::recommend::Recommender =
                serde_json::from_slice(&std::fs::read(run.join("recommender.json")).with_context(|| "train first: `ferrograph train CONFIG`")?)?;
            for (ty, file, suffix) in [(&meta.user_type, &meta.users, "users"), (&meta.item_type, &meta.items, "items")] {
                let t = g.schema().node_type(ty)?;
                let (values, dim) = npy(&run.join(file))?;
                write(t, &values, dim, &PathBuf::from(format!("{}-{suffix}", out.display())))?;
            }
            Ok(())
        }
        Task::NodeClassification => anyhow::bail!("node classification exports through its checkpoint (`embed` without a task)"),
    }
}

/// The quickstart's training config, written as `OUT/quickstart.toml`:
/// GraphSAGE on the planted-partition snapshot already written to
/// `OUT/graph` (paths relative to the config, so it can be rerun with
/// `ferrograph train OUT/quickstart.toml`).
pub fn quickstart_config(out: &Path) -> Result<TrainConfig> {
    let text = r#"# Written by `ferrograph quickstart`: GraphSAGE on the built-in planted-partition graph.
output = "train"

[data]
snapshot = "graph"
node_type = "node"
label = "label"
features = "feat"

[model]
kind = "sage"
hidden = [64]
dropout = 0.2

[train]
fanouts = [10, 10]
batch_size = 256
lr = 0.01
weight_decay = 0.0005
epochs = 30
patience = 10
seed = 0
"#;
    let path = out.join("quickstart.toml");
    ferrograph_train::trainer::write_atomic(&path, text.as_bytes())?;
    Ok(TrainConfig::parse(text, &path)?)
}

/// `train --repeat N`: seeds `seed..seed + N`, each in `OUTPUT/seed-K`;
/// prints and writes (`OUTPUT/repeat.json`) mean and standard deviation.
pub fn repeat(cfg: &TrainConfig, n: usize, opts: &RunOptions, bars: &Bars) -> Result<()> {
    let base = cfg.train.seed;
    let root = cfg.resolve(&cfg.output);
    let mut runs = Vec::new();
    for k in 0..n as u64 {
        let mut c = cfg.clone();
        c.train.seed = base + k;
        c.output = root.join(format!("seed-{}", base + k));
        let (s, _) = run_training(&c, opts, bars, true)?;
        eprintln!(
            "seed {:>3}: test accuracy {:.4}  (best validation {:.4} at epoch {}, {:.1}s)",
            c.train.seed, s.test_accuracy, s.val_accuracy, s.best_epoch, s.seconds
        );
        runs.push(s);
    }
    let stat = |f: &dyn Fn(&Summary) -> f64| {
        let v: Vec<f64> = runs.iter().map(f).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        (mean, sd)
    };
    let (acc, acc_sd) = stat(&|s| s.test_accuracy);
    let (f1, f1_sd) = stat(&|s| s.test_macro_f1);
    let (secs, _) = stat(&|s| s.seconds);
    let json = serde_json::json!({
        "runs": n, "first_seed": base,
        "test_accuracy_mean": acc, "test_accuracy_std": acc_sd,
        "test_macro_f1_mean": f1, "test_macro_f1_std": f1_sd,
        "seconds_mean": secs,
        "test_accuracy": runs.iter().map(|s| s.test_accuracy).collect::<Vec<_>>(),
    });
    ferrograph_train::trainer::write_atomic(&root.join("repeat.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    println!(
        "{n} seeds: test accuracy {acc:.4} ± {acc_sd:.4}, macro-F1 {f1:.4} ± {f1_sd:.4} ({secs:.1}s per run); {}",
        root.join("repeat.json").display()
    );
    Ok(())
}
