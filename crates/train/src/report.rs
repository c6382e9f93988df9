//! Run outputs besides checkpoints: the training-curve PNG (plotters),
//! `summary.json`, `report.md` and embedding files.

use std::path::Path;

use plotters::prelude::*;

use crate::config::TrainConfig;
use crate::trainer::{EpochRecord, Summary, write_atomic};
use crate::{Error, Result};

const LOSS: RGBColor = RGBColor(214, 39, 40);
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VAL: RGBColor = RGBColor(44, 160, 44);

/// Draws loss (left, red) and train/validation accuracy (right, blue and
/// green) per epoch into a PNG. No text is drawn (that would need a system
/// font); the report names the colours.
pub fn plot_curves(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let loss: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.loss)).collect();
    let train: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.train_accuracy)).collect();
    let val: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.val_accuracy)).collect();
    plot_series(path, &loss, &[&train, &val])
}

/// Draws `loss` (left panel, red) and `scores` in [0, 1] (right panel:
/// blue, green, then orange) against the epoch into a PNG, atomically.
pub fn plot_series(path: &Path, loss: &[(f64, f64)], scores: &[&[(f64, f64)]]) -> Result<()> {
    const COLOURS: [RGBColor; 3] = [TRAIN, VAL, RGBColor(255, 127, 14)];
    let tmp = path.with_extension("tmp.png");
    let err = |e: &dyn std::fmt::Display| Error::Io(format!("{}: {e}", path.display()));
    {
        let root = BitMapBackend::new(&tmp, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (left, right) = root.split_horizontally(480);
        let n = loss.iter().chain(scores.iter().flat_map(|s| s.iter())).map(|p| p.0).fold(2.0, f64::max);
        let max_loss = loss.iter().map(|p| p.1).filter(|x| x.is_finite()).fold(1e-9, f64::max) * 1.05;
        let mut c = ChartBuilder::on(&left)
            .margin(20)
            .x_label_area_size(10)
            .y_label_area_size(10)
            .build_cartesian_2d(1f64..n, 0f64..max_loss)
            .map_err(|e| err(&e))?;
        c.configure_mesh().disable_x_mesh().x_labels(0).y_labels(0).draw().map_err(|e| err(&e))?;
        c.draw_series(LineSeries::new(loss.iter().copied(), LOSS.stroke_width(2))).map_err(|e| err(&e))?;
        let mut c = ChartBuilder::on(&right)
            .margin(20)
            .x_label_area_size(10)
            .y_label_area_size(10)
            .build_cartesian_2d(1f64..n, 0f64..1f64)
            .map_err(|e| err(&e))?;
        c.configure_mesh().disable_x_mesh().x_labels(0).y_labels(0).draw().map_err(|e| err(&e))?;
        for (s, colour) in scores.iter().zip(COLOURS) {
            c.draw_series(LineSeries::new(s.iter().copied(), colour.stroke_width(2))).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| err(&e))
}

/// Writes `summary.json`, `curves.png` and `report.md` into `out`.
pub fn write_outputs(out: &Path, cfg: &TrainConfig, summary: &Summary, history: &[EpochRecord], extra: &str) -> Result<()> {
    let json = serde_json::to_string_pretty(summary).expect("summary serialises");
    write_atomic(&out.join("summary.json"), json.as_bytes())?;
    plot_curves(&out.join("curves.png"), history)?;
    let m = &cfg.model;
    let t = &cfg.train;
    let mut r = String::new();
    r += &format!("# Training report: {:?} on `{}`\n\n", m.kind, cfg.data.node_type);
    r += &format!(
        "| metric | value |\n|---|---|\n| test accuracy | {:.4} |\n| test micro-F1 | {:.4} |\n| test macro-F1 | {:.4} |\n| best validation accuracy | {:.4} (epoch {}) |\n| epochs | {} |\n| seconds | {:.1} |\n| training steps/s | {:.2} |\n| time waiting for batches | {:.1}% |\n\n",
        summary.test_accuracy,
        summary.test_micro_f1,
        summary.test_macro_f1,
        summary.val_accuracy,
        summary.best_epoch,
        summary.epochs,
        summary.seconds,
        summary.steps_per_second,
        summary.wait_fraction * 100.0
    );
    r += &format!(
        "Model: {:?}, hidden {:?}, aggregator {:?}, heads {}, dropout {}; mode {:?}, fan-outs {:?}, batch {}, Adam lr {} weight decay {}, seed {}.\n\n",
        m.kind, m.hidden, m.aggregator, m.heads, m.dropout, t.mode, t.fanouts, t.batch_size, t.lr, t.weight_decay, t.seed
    );
    r += "![training curves](curves.png)\n\nLeft: mean training loss per epoch (red). Right: training accuracy (blue) and validation accuracy (green), 0 to 1.\n\n";
    r += "Per-epoch figures are in `metrics.jsonl`; the best-validation model is `best.ckpt`, the resumable state `last.ckpt`.\n";
    r += extra;
    write_atomic(&out.join("report.md"), r.as_bytes())
}

/// Which layer's output to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedLayer {
    /// The last hidden layer (input of the output layer).
    Hidden,
    /// The output layer (class scores).
    Output,
}

/// Exact layer-wise inference over all nodes of the config's node type,
/// written to `npy` (float32 `[nodes, dim]`, row = local index) and/or
/// `parquet` (`id`, `embedding`). Returns `(nodes, dim)`.
pub fn export_embeddings(
    model: &crate::model::Gnn,
    data: &crate::trainer::Data<'_>,
    kind: crate::model::ModelKind,
    layer: EmbedLayer,
    npy: Option<&Path>,
    parquet: Option<&Path>,
) -> Result<(usize, usize)> {
    let upto = match layer {
        EmbedLayer::Hidden => model.layers().saturating_sub(1).max(1),
        EmbedLayer::Output => model.layers(),
    };
    let (values, dim) = crate::trainer::infer_all(model, data, upto, kind)?;
    let n = values.len() / dim.max(1);
    write_embedding_files(data.graph, data.r.node_type, &values, dim, npy, parquet)?;
    Ok((n, dim))
}

/// Writes `values` (`rows × dim`, row = local index of `node_type` in `g`)
/// to `npy` (float32 `[rows, dim]`) and/or `parquet` (`id` with the
/// external ids, `embedding`), each atomically.
pub fn write_embedding_files(
    g: &ferrograph_graph::Graph,
    node_type: ferrograph_graph::NodeTypeId,
    values: &[f32],
    dim: usize,
    npy: Option<&Path>,
    parquet: Option<&Path>,
) -> Result<()> {
    use ferrograph_graph::LocalIdx;
    use ferrograph_graph::idmap::ExternalId;
    use ferrograph_io::parquet_table::{EmbeddingIds, write_embeddings};
    let n = values.len() / dim.max(1);
    let io = |e: ferrograph_io::Error| Error::Io(e.to_string());
    if let Some(p) = npy {
        ferrograph_io::npy::write_npy_f32(p, &[n, dim], values).map_err(io)?;
    }
    if let Some(p) = parquet {
        let store = g.nodes(node_type);
        let ids = match store.ids.kind() {
            ferrograph_graph::IdKind::String => EmbeddingIds::Str(
                (0..n)
                    .map(|i| match store.ids.external(LocalIdx(i as u32)) {
                        ExternalId::Str(s) => s,
                        ExternalId::Int(v) => v.to_string(),
                    })
                    .collect(),
            ),
            _ => EmbeddingIds::Int(
                (0..n)
                    .map(|i| match store.ids.external(LocalIdx(i as u32)) {
                        ExternalId::Int(v) => v,
                        ExternalId::Str(_) => i as i64,
                    })
                    .collect(),
            ),
        };
        write_embeddings(p, ids, dim, values).map_err(io)?;
    }
    Ok(())
}
