//! The human-readable outputs of a run: `summary.json` (machine-readable,
//! [`crate::record::Summary`]), `curves.png` (loss and metrics per epoch,
//! labelled, [`crate::plot`]) and `report.md`. Every file is written
//! atomically.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Result;
use crate::config::TrainConfig;
use crate::plot::{Panel, Series, render_png};
use crate::record::{EpochRecord, Summary};

/// Writes `summary.json`, `curves.png` and `report.md` into `out`; `body`
/// is the task's description of the run.
pub fn write(out: &Path, cfg: &TrainConfig, summary: &Summary, history: &[EpochRecord], body: &str) -> Result<()> {
    let json = serde_json::to_string_pretty(summary).unwrap_or_default();
    crate::write_file(&out.join("summary.json"), json.as_bytes())?;
    crate::write_file(&out.join("curves.png"), &curves(cfg, history)?)?;
    crate::write_file(&out.join("report.md"), markdown(cfg, summary, history, body).as_bytes())
}

/// The curves: training loss (left) and every metric in [0, 1] that an
/// epoch recorded (right: validation, train accuracy, monitored test).
pub fn curves(cfg: &TrainConfig, history: &[EpochRecord]) -> Result<Vec<u8>> {
    let loss: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.loss)).collect();
    let mut named: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for h in history {
        let x = h.epoch as f64;
        if let Some(a) = h.train_accuracy {
            named.entry("train accuracy".into()).or_default().push((x, a));
        }
        for (k, v) in &h.val {
            if (0.0..=1.0).contains(v) {
                named.entry(format!("val {k}")).or_default().push((x, *v));
            }
        }
        for (k, v) in &h.test {
            if (0.0..=1.0).contains(v) {
                named.entry(format!("test {k} (monitor)")).or_default().push((x, *v));
            }
        }
    }
    let scores: Vec<Series<'_>> = named.iter().map(|(k, v)| Series { name: k, points: v }).collect();
    let title =
        format!("{} ({}) — {}", cfg.task.name(), cfg.model.kind.name(), cfg.path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default());
    let panels = [
        Panel { title: "training loss", y_label: "mean loss per step", series: vec![Series { name: "loss", points: &loss }], y_range: None },
        Panel { title: "metrics", y_label: "score", series: scores, y_range: Some((0.0, 1.0)) },
    ];
    Ok(render_png(&title, "epoch", &panels)?)
}

fn table(rows: &[(String, String)]) -> String {
    rows.iter().map(|(a, b)| format!("| {a} | {b} |\n")).collect()
}

fn markdown(cfg: &TrainConfig, s: &Summary, history: &[EpochRecord], body: &str) -> String {
    let mut r = format!("# Training report: {} ({}) on `{}`\n\n", s.task, s.model, cfg.path.display());
    let names: std::collections::BTreeSet<&String> = s.val.keys().chain(s.test.keys()).collect();
    if !names.is_empty() {
        r += "| metric | validation | test |\n|---|---|---|\n";
        let show = |m: &BTreeMap<String, f64>, k: &String| m.get(k).map_or("–".to_string(), |v| format!("{v:.4}"));
        for k in names {
            r += &format!("| {k} | {} | {} |\n", show(&s.val, k), show(&s.test, k));
        }
        for (k, v) in &s.baseline {
            r += &format!("| baseline: {k} | | {v:.4} |\n");
        }
        r += "\n";
    }
    r += &format!(
        "Kept epoch {} of {} (chosen by {}); seed {}, {} thread(s); {} steps at {:.2} steps/s, {:.1}% of training time waiting for batches; peak resident memory {:.0} MiB.\n\n",
        s.best_epoch,
        s.epochs,
        s.selected_by,
        s.seed,
        s.threads,
        s.steps,
        s.steps_per_second,
        s.wait_fraction * 100.0,
        s.peak_rss_mib
    );
    r += "| phase | seconds |\n|---|---|\n";
    r += &table(&s.phases.iter().map(|(k, v)| (k.clone(), format!("{v:.2}"))).collect::<Vec<_>>());
    r += &format!("| total | {:.2} |\n\n", s.seconds);
    r += "![training curves](curves.png)\n\n";
    r += body;
    r += "\n\n| epoch | loss | steps/s | val |\n|---|---|---|---|\n";
    for h in history {
        let val: Vec<String> = h.val.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        r += &format!("| {} | {:.4} | {:.1} | {} |\n", h.epoch, h.loss, h.steps_per_second, val.join(", "));
    }
    r += "\nFiles: ";
    r += &s.files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
    r += ". Per-epoch figures in `metrics.jsonl`; `best.ckpt` is the kept model, `last.ckpt` the state `--resume` continues from.\n";
    r
}
