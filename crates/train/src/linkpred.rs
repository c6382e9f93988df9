//! Link-prediction evaluation: scores of node pairs, ROC AUC, MRR and
//! Hits@K against sampled non-edges.

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
}
