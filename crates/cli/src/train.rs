//! `ferrograph train`, `embed` and the training half of `quickstart`: the
//! CLI side of the one run loop ([`ferrograph_train::tasks::run`]): it loads
//! the graph, draws the progress bars and prints the outcome.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use ferrograph_graph::Graph;
use ferrograph_train::config::TrainConfig;
use ferrograph_train::engine::{Group, Observer, Outcome, RunOptions};
use ferrograph_train::record::{EpochRecord, Metrics, Summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::Bars;

/// Loads the graph a config names (the built-in planted-partition graph
/// when it names none).
pub fn load_graph(cfg: &TrainConfig, bars: &Bars) -> Result<Graph> {
    let d = &cfg.data;
    if let Some(s) = &d.snapshot {
        let dir = cfg.resolve(s);
        let g = ferrograph_graph::snapshot::open(&dir)?.graph;
        // Training reads every edge: a damaged topology file is named now,
        // not met as an index out of range mid-run.
        g.check_structure()?;
        return Ok(g);
    }
    if let Some(i) = &d.import {
        return Ok(ferrograph_io::import_file(&cfg.resolve(i), bars)?);
    }
    Ok(ferrograph_io::generate::Planted::default().graph()?)
}

/// Progress of a run on stderr: a bar per epoch (step, loss, steps/s,
/// ETA) and per long phase (inference chunks, walks) when stderr is a
/// terminal; otherwise (logs, CI) the same figures as a plain line at most
/// every [`PLAIN_EVERY`]. One line per epoch and per phase either way
/// (unless quiet).
pub struct Display {
    bar: RefCell<Option<ProgressBar>>,
    work: RefCell<Option<(String, ProgressBar)>>,
    quiet: bool,
    plain: bool,
    /// Epoch, epochs, steps, start, last plain line.
    epoch: RefCell<(usize, usize, usize, Instant, Instant)>,
    loss: RefCell<(f64, usize)>,
}

/// How often plain progress lines are printed.
pub const PLAIN_EVERY: Duration = Duration::from_secs(2);

impl Display {
    /// A display; `quiet` prints nothing at all.
    pub fn new(quiet: bool) -> Display {
        use std::io::IsTerminal;
        let now = Instant::now();
        Display {
            bar: RefCell::new(None),
            work: RefCell::new(None),
            quiet,
            plain: !std::io::stderr().is_terminal(),
            epoch: RefCell::new((0, 0, 0, now, now)),
            loss: RefCell::new((0.0, 0)),
        }
    }

    fn new_bar(&self, len: u64, template: &str) -> ProgressBar {
        let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        b.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
        b
    }

    fn clear_work(&self) {
        if let Some((_, b)) = self.work.borrow_mut().take() {
            b.finish_and_clear();
        }
    }
}

impl Observer for Display {
    fn phase(&self, name: &str) {
        self.clear_work();
        if !self.quiet && name != "training" {
            eprintln!("{name} …");
        }
    }

    fn epoch_start(&self, epoch: usize, epochs: usize, steps: usize) {
        *self.loss.borrow_mut() = (0.0, 0);
        let now = Instant::now();
        *self.epoch.borrow_mut() = (epoch, epochs, steps, now, now);
        if self.quiet {
            return;
        }
        let b = self.new_bar(steps as u64, "epoch {prefix} [{bar:30}] {pos}/{len} loss {msg} {per_sec} eta {eta}");
        b.set_prefix(format!("{epoch}/{epochs}"));
        b.enable_steady_tick(Duration::from_millis(200));
        *self.bar.borrow_mut() = Some(b);
    }

    fn step(&self, step: usize, loss: f64) {
        let mut l = self.loss.borrow_mut();
        l.0 += loss;
        l.1 += 1;
        if let Some(b) = &*self.bar.borrow() {
            b.set_message(format!("{:.4}", l.0 / l.1 as f64));
            b.inc(1);
        }
        if self.plain && !self.quiet {
            let mut e = self.epoch.borrow_mut();
            if e.4.elapsed() >= PLAIN_EVERY && step < e.2 {
                let secs = e.3.elapsed().as_secs_f64();
                let rate = step as f64 / secs.max(1e-9);
                eprintln!(
                    "epoch {}/{} step {step}/{} loss {:.4} {rate:.1} steps/s eta {:.0}s",
                    e.0,
                    e.1,
                    e.2,
                    l.0 / l.1 as f64,
                    (e.2 - step) as f64 / rate.max(1e-9)
                );
                e.4 = Instant::now();
            }
        }
    }

    fn progress(&self, what: &str, done: usize, total: usize) {
        if self.quiet {
            return;
        }
        let mut w = self.work.borrow_mut();
        if w.as_ref().is_none_or(|(name, _)| name != what) {
            if let Some((_, b)) = w.take() {
                b.finish_and_clear();
            }
            let b = self.new_bar(total as u64, "{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}");
            b.set_message(what.to_string());
            *w = Some((what.to_string(), b));
        }
        if let Some((_, b)) = w.as_ref() {
            b.set_position(done as u64);
        }
        if self.plain {
            let mut e = self.epoch.borrow_mut();
            if e.4.elapsed() >= PLAIN_EVERY || done == total {
                eprintln!("{what}: {done}/{total}");
                e.4 = Instant::now();
            }
        }
    }

    fn epoch_end(&self, r: &EpochRecord) {
        self.clear_work();
        if let Some(b) = self.bar.borrow_mut().take() {
            b.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        let acc = r.train_accuracy.map_or(String::new(), |a| format!("  train acc {a:.4}"));
        let val = if r.val.is_empty() { String::new() } else { format!("  val {}", metrics_text(&r.val)) };
        let test = if r.test.is_empty() { String::new() } else { format!("  test {}", metrics_text(&r.test)) };
        eprintln!(
            "epoch {:>3}  loss {:.4}{acc}{val}{test}  {:.1} steps/s  waited {:.1}%  ({:.2}s + eval {:.2}s)",
            r.epoch,
            r.loss,
            r.steps_per_second,
            r.wait_fraction * 100.0,
            r.train_seconds,
            r.eval_seconds
        );
    }
}

/// `name value  name value`.
pub fn metrics_text(m: &Metrics) -> String {
    m.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join("  ")
}

/// Trains per `cfg` through the one run loop and writes every output.
pub fn run_training(cfg: &TrainConfig, opts: RunOptions, bars: &Bars, quiet: bool) -> Result<Outcome> {
    let t0 = Instant::now();
    let g = load_graph(cfg, bars)?;
    let mut opts = opts;
    opts.phases.insert("load".into(), t0.elapsed().as_secs_f64());
    let display = Display::new(quiet);
    Ok(ferrograph_train::tasks::run(cfg, &g, opts, &display)?)
}

/// The data-parallel group of this process: the MPI world when an MPI
/// launcher started it (builds with `--features mpi`), else one rank.
pub fn group() -> Result<Group> {
    #[cfg(feature = "mpi")]
    if ferrograph_dist::world::launched_by_mpi() {
        let w = ferrograph_dist::world::MpiWorld::init().map_err(anyhow::Error::msg)?;
        return Ok(Group(std::sync::Arc::new(w)));
    }
    #[cfg(not(feature = "mpi"))]
    if let Some(n) = std::env::var("OMPI_COMM_WORLD_SIZE").ok().or_else(|| std::env::var("PMI_SIZE").ok()).filter(|n| n != "1") {
        anyhow::bail!(
            "started as one of {n} MPI ranks, but this ferrograph was built without MPI: build it with `cargo build --release --features mpi`"
        );
    }
    Ok(Group::default())
}

/// [`run_training`] as one rank of `opts.group`, sampling through the
/// graph servers of `servers` when given. Only rank 0 draws progress.
pub fn run_ranked(cfg: &TrainConfig, servers: Option<&Path>, opts: RunOptions, bars: &Bars) -> Result<Outcome> {
    let group = opts.group.clone();
    let go = || -> Result<Outcome> {
        let remote = servers.map(|p| ferrograph_dist::Servers::load(p).and_then(|s| s.connect())).transpose()?;
        let t0 = Instant::now();
        let g = load_graph(cfg, bars)?;
        let mut opts = opts;
        opts.phases.insert("load".into(), t0.elapsed().as_secs_f64());
        let display = Display::new(group.0.rank() != 0);
        let through = remote.as_ref().map(|r| ferrograph_train::tasks::Remote { graph: r, features: r });
        Ok(ferrograph_train::tasks::run_with(cfg, &g, through, opts, &display)?)
    };
    match go() {
        Err(e) if group.0.size() > 1 => group.0.fail(&format!("{e:#}").replace('\n', " ")),
        r => r,
    }
}

/// Prints a run's outcome.
pub fn print_outcome(s: &Summary, out: &Path) {
    if !s.test.is_empty() {
        println!("test: {}", metrics_text(&s.test));
    }
    if !s.baseline.is_empty() {
        println!("baseline: {}", metrics_text(&s.baseline));
    }
    let val = if s.val.is_empty() { String::new() } else { format!(" (val {})", metrics_text(&s.val)) };
    println!(
        "{} ({}): {} epoch(s), kept epoch {} by {}{val}; {:.1}s, peak RSS {:.0} MiB",
        s.task, s.model, s.epochs, s.best_epoch, s.selected_by, s.seconds, s.peak_rss_mib
    );
    println!("report: {}", out.join("report.md").display());
}

/// `ferrograph embed`: the kept model's embeddings, computed again.
pub fn embed(config: &Path, checkpoint: Option<&Path>, output_layer: bool, out: &Path, bars: &Bars) -> Result<()> {
    let cfg = TrainConfig::load(config)?;
    let g = load_graph(&cfg, bars)?;
    let display = Display::new(false);
    for (path, n, dim) in ferrograph_train::tasks::embed(&cfg, &g, checkpoint, output_layer, out, &display)? {
        println!("wrote {n} × {dim} embeddings to {} and {}", path.display(), path.with_extension("parquet").display());
    }
    Ok(())
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
    std::fs::create_dir_all(out)?;
    let path = out.join("quickstart.toml");
    ferrograph_train::write_file(&path, text.as_bytes())?;
    Ok(TrainConfig::parse(text, &path)?)
}

/// `train --repeat N`: seeds `seed..seed + N`, each in `OUTPUT/seed-K`;
/// prints and writes (`OUTPUT/repeat.json`) the mean and standard
/// deviation of every test metric.
pub fn repeat(cfg: &TrainConfig, n: usize, opts: &RunOptions, bars: &Bars) -> Result<()> {
    let base = cfg.train.seed;
    // Absolute: the runs and repeat.json land in the same folder whatever
    // the working directory.
    let root = cfg.output_dir();
    let mut runs: Vec<Summary> = Vec::new();
    for k in 0..n as u64 {
        let mut c = cfg.clone();
        c.train.seed = base + k;
        c.output = root.join(format!("seed-{}", base + k));
        let o = run_training(&c, opts.clone(), bars, true)?;
        eprintln!(
            "seed {:>3}: test {}  (kept epoch {} by {}, {:.1}s)",
            c.train.seed,
            metrics_text(&o.summary.test),
            o.summary.best_epoch,
            o.summary.selected_by,
            o.summary.seconds
        );
        runs.push(o.summary);
    }
    let names: Vec<String> = runs.first().map(|s| s.test.keys().cloned().collect()).unwrap_or_default();
    let mut stats = serde_json::Map::new();
    let mut line = Vec::new();
    for name in &names {
        let v: Vec<f64> = runs.iter().filter_map(|s| s.test.get(name).copied()).collect();
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt();
        stats.insert(name.clone(), serde_json::json!({ "mean": mean, "std": sd, "runs": v }));
        line.push(format!("{name} {mean:.4} ± {sd:.4}"));
    }
    let secs = runs.iter().map(|s| s.seconds).sum::<f64>() / runs.len().max(1) as f64;
    let json = serde_json::json!({ "runs": n, "first_seed": base, "test": stats, "seconds_mean": secs });
    let path: PathBuf = root.join("repeat.json");
    ferrograph_train::write_file(&path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    println!("{n} seeds: test {} ({secs:.1}s per run); {}", line.join(", "), path.display());
    Ok(())
}
