//! Evaluation metrics: classification (accuracy, micro- and macro-F1), link
//! prediction against sampled non-edges (ROC AUC, MRR, Hits@K) and top-K
//! recommendation over all unseen items (Recall@K, NDCG@K, the reference
//! LightGCN protocol).

use rayon::prelude::*;

use crate::record::Metrics;
use crate::tasks::interactions::Interactions;

/// Scores of a set of predictions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// Fraction correct.
    pub accuracy: f64,
    /// Micro-averaged F1 (equals accuracy for single-label classes).
    pub micro_f1: f64,
    /// Unweighted mean of per-class F1 over classes that occur in the
    /// truth or the predictions.
    pub macro_f1: f64,
}

impl Scores {
    /// Scores `pred` against `truth` over `classes` classes.
    pub fn new(pred: &[usize], truth: &[usize], classes: usize) -> Scores {
        assert_eq!(pred.len(), truth.len());
        let mut tp = vec![0usize; classes];
        let mut fp = vec![0usize; classes];
        let mut fne = vec![0usize; classes];
        for (&p, &t) in pred.iter().zip(truth) {
            if p == t {
                tp[t] += 1;
            } else {
                fp[p] += 1;
                fne[t] += 1;
            }
        }
        let n = pred.len().max(1) as f64;
        let correct: usize = tp.iter().sum();
        let (tps, fps, fns) = (correct as f64, fp.iter().sum::<usize>() as f64, fne.iter().sum::<usize>() as f64);
        let micro = if tps == 0.0 { 0.0 } else { 2.0 * tps / (2.0 * tps + fps + fns) };
        let mut f1s = Vec::new();
        for c in 0..classes {
            if tp[c] + fp[c] + fne[c] == 0 {
                continue;
            }
            f1s.push(2.0 * tp[c] as f64 / (2 * tp[c] + fp[c] + fne[c]) as f64);
        }
        let macro_f1 = if f1s.is_empty() { 0.0 } else { f1s.iter().sum::<f64>() / f1s.len() as f64 };
        Scores { accuracy: correct as f64 / n, micro_f1: micro, macro_f1 }
    }
}

impl Scores {
    /// As named metrics (`accuracy`, `micro_f1`, `macro_f1`).
    pub fn metrics(&self) -> Metrics {
        [("accuracy", self.accuracy), ("micro_f1", self.micro_f1), ("macro_f1", self.macro_f1)].into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// Scores of `nodes` from all-node logits (`classes` per row).
pub fn classify(logits: &[f32], classes: usize, labels: &[i64], nodes: &[u32]) -> Scores {
    let pred: Vec<usize> = nodes.iter().map(|&v| argmax(&logits[v as usize * classes..][..classes])).collect();
    let truth: Vec<usize> = nodes.iter().map(|&v| labels[v as usize] as usize).collect();
    Scores::new(&pred, &truth, classes)
}

/// Index of the largest value (the first of ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

/// Dot-product scores of `pairs` under row-major embeddings of width `dim`.
pub fn dot_scores(emb: &[f32], dim: usize, pairs: &[[u32; 2]]) -> Vec<f32> {
    pairs
        .iter()
        .map(|&[a, b]| {
            let (x, y) = (&emb[a as usize * dim..][..dim], &emb[b as usize * dim..][..dim]);
            x.iter().zip(y).map(|(p, q)| p * q).sum()
        })
        .collect()
}

/// Probability that a random positive scores above a random negative (ties
/// count one half): the Mann–Whitney form of the ROC AUC.
pub fn auc(pos: &[f32], neg: &[f32]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut sorted = neg.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let mut wins = 0.0;
    for &p in pos {
        let below = sorted.partition_point(|&n| n < p);
        let equal = sorted.partition_point(|&n| n <= p) - below;
        wins += below as f64 + 0.5 * equal as f64;
    }
    wins / (pos.len() as f64 * neg.len() as f64)
}

/// Mean reciprocal rank and Hits@K of each positive ranked against all
/// negatives (rank = 1 + negatives above + half the ties).
pub fn rank_metrics(pos: &[f32], neg: &[f32], ks: &[usize]) -> (f64, Vec<f64>) {
    let mut sorted = neg.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let mut mrr = 0.0;
    let mut hits = vec![0.0; ks.len()];
    for &p in pos {
        let above = sorted.len() - sorted.partition_point(|&n| n <= p);
        let ties = sorted.partition_point(|&n| n <= p) - sorted.partition_point(|&n| n < p);
        let rank = 1.0 + above as f64 + 0.5 * ties as f64;
        mrr += 1.0 / rank;
        for (h, &k) in hits.iter_mut().zip(ks) {
            if rank <= k as f64 {
                *h += 1.0;
            }
        }
    }
    let n = pos.len().max(1) as f64;
    (mrr / n, hits.into_iter().map(|h| h / n).collect())
}

/// AUC, MRR and Hits@K of dot scores of `pos` pairs against `neg` pairs
/// (empty when either is empty).
pub fn link_metrics(emb: &[f32], dim: usize, pos: &[[u32; 2]], neg: &[[u32; 2]], ks: &[usize]) -> Metrics {
    let mut m = Metrics::new();
    if pos.is_empty() || neg.is_empty() {
        return m;
    }
    let (p, n) = (dot_scores(emb, dim, pos), dot_scores(emb, dim, neg));
    m.insert("auc".into(), auc(&p, &n));
    let (mrr, hits) = rank_metrics(&p, &n, ks);
    m.insert("mrr".into(), mrr);
    for (k, h) in ks.iter().zip(hits) {
        m.insert(format!("hits@{k}"), h);
    }
    m
}

/// Recall@K and NDCG@K (reference protocol) for users with test items,
/// scoring every item by `user · item` and excluding training items.
pub fn recall_ndcg(users: &[f32], items: &[f32], dim: usize, train: &Interactions, test: &Interactions, k: usize) -> (f64, f64) {
    let n_items = items.len() / dim;
    rank_eval(train, test, k, |u, scores| {
        let eu = &users[u * dim..][..dim];
        for (i, s) in scores.iter_mut().enumerate().take(n_items) {
            *s = eu.iter().zip(&items[i * dim..][..dim]).map(|(a, b)| a * b).sum();
        }
    })
}

/// The same protocol with every user scoring items by training popularity.
pub fn popularity_baseline(train: &Interactions, test: &Interactions, k: usize) -> (f64, f64) {
    let mut pop = vec![0f32; train.items];
    for &i in &train.items_of {
        pop[i as usize] += 1.0;
    }
    rank_eval(train, test, k, |_, scores| scores.copy_from_slice(&pop))
}

fn rank_eval(train: &Interactions, test: &Interactions, k: usize, score: impl Fn(usize, &mut [f32]) + Sync) -> (f64, f64) {
    let items = train.items;
    let (recall, ndcg, users) = (0..test.users.min(train.users))
        .into_par_iter()
        .filter(|&u| !test.row(u).is_empty())
        .map_init(
            || vec![0f32; items],
            |scores, u| {
                score(u, scores);
                for &i in train.row(u) {
                    scores[i as usize] = f32::NEG_INFINITY;
                }
                let mut top: Vec<u32> = (0..items as u32).collect();
                let kk = k.min(items);
                if kk < items {
                    top.select_nth_unstable_by(kk, |&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
                }
                top.truncate(kk);
                top.sort_unstable_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
                let truth = test.row(u);
                let mut hits = 0.0;
                let mut dcg = 0.0;
                for (rank, &i) in top.iter().enumerate() {
                    if truth.binary_search(&i).is_ok() {
                        hits += 1.0;
                        dcg += 1.0 / ((rank + 2) as f64).log2();
                    }
                }
                let idcg: f64 = (0..truth.len().min(kk)).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
                (hits / truth.len() as f64, dcg / idcg, 1usize)
            },
        )
        .collect::<Vec<_>>()
        // Summed in user order: the same figure whatever the thread count.
        .into_iter()
        .fold((0.0, 0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    (recall / users.max(1) as f64, ndcg / users.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_mrr_hits_by_hand() {
        // pos 3 beats both negatives, pos 1 beats one and ties none, pos 0.5 ties 0.5.
        let (pos, neg) = ([3.0, 1.0, 0.5], [0.5, 2.0]);
        // wins: 2 + 1 (beats 0.5) + 0.5 (tie) = 3.5 of 6.
        assert!((auc(&pos, &neg) - 3.5 / 6.0).abs() < 1e-12);
        // ranks: 1, 2, 2.5 (one above, one tie).
        let (mrr, hits) = rank_metrics(&pos, &neg, &[1, 2]);
        assert!((mrr - (1.0 + 0.5 + 0.4) / 3.0).abs() < 1e-12);
        assert_eq!(hits, vec![1.0 / 3.0, 2.0 / 3.0]);
        assert_eq!(dot_scores(&[1.0, 2.0, 3.0, 4.0], 2, &[[0, 1]]), vec![11.0]);
    }

    #[test]
    fn recall_and_ndcg_by_hand() {
        // 1 user, 4 items; item 0 seen in training; test items {1, 3}.
        let train = Interactions::new(1, 4, &[0, 1], &[0]);
        let test = Interactions::new(1, 4, &[0, 2], &[1, 3]);
        // Scores: item 0 highest (excluded), then 3, 2, 1.
        let items = [9.0, 1.0, 2.0, 3.0];
        let (r, n) = recall_ndcg(&[1.0], &items, 1, &train, &test, 2);
        // Top-2 = [3, 2]: one hit of two; DCG = 1/log2(2) = 1; IDCG = 1 + 1/log2(3).
        assert!((r - 0.5).abs() < 1e-12);
        assert!((n - 1.0 / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
    }

    #[test]
    fn by_hand() {
        // truth 0 0 1 2, pred 0 1 1 1: class 0 F1 = 2/3, class 1 = 2·1/(2+2) = 1/2, class 2 = 0.
        let s = Scores::new(&[0, 1, 1, 1], &[0, 0, 1, 2], 3);
        assert_eq!(s.accuracy, 0.5);
        assert_eq!(s.micro_f1, 0.5);
        assert!((s.macro_f1 - (2.0 / 3.0 + 0.5) / 3.0).abs() < 1e-12);
    }
}
