//! Classification metrics: accuracy, micro- and macro-F1.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // truth 0 0 1 2, pred 0 1 1 1: class 0 F1 = 2/3, class 1 = 2·1/(2+2) = 1/2, class 2 = 0.
        let s = Scores::new(&[0, 1, 1, 1], &[0, 0, 1, 2], 3);
        assert_eq!(s.accuracy, 0.5);
        assert_eq!(s.micro_f1, 0.5);
        assert!((s.macro_f1 - (2.0 / 3.0 + 0.5) / 3.0).abs() < 1e-12);
    }
}
