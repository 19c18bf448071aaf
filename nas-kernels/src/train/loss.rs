//! Cross-entropy with optional label smoothing (PyTorch's `F.cross_entropy(.., label_smoothing)`):
//! the target is `(1 - e)` on the label plus `e / K` on every class, the loss the batch mean.

/// The mean loss of a batch, its gradient with respect to the logits and the number of rows whose
/// largest logit is the label's. `logits` is `[batch, classes]`; sums run in f64.
#[derive(Clone, Debug, PartialEq)]
pub struct LossAndGrad {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Gradient of the mean loss with respect to the logits.
    pub grad: Vec<f32>,
    /// Images whose arg-max prediction is the label.
    pub correct: usize,
}

/// See the module doc. Labels must be below `classes` (the loader checks them).
pub fn cross_entropy(logits: &[f32], labels: &[u32], classes: usize, smoothing: f64) -> LossAndGrad {
    let batch = labels.len();
    let mut grad = vec![0.0f32; logits.len()];
    let (mut total, mut correct) = (0.0f64, 0usize);
    let off = smoothing / classes as f64;
    for ((row, g), &label) in logits.chunks_exact(classes).zip(grad.chunks_exact_mut(classes)).zip(labels) {
        let label = label as usize;
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let sum: f64 = row.iter().map(|&v| (f64::from(v) - f64::from(max)).exp()).sum();
        let lse = f64::from(max) + sum.ln();
        let mut loss = 0.0;
        for (k, (&z, gk)) in row.iter().zip(g.iter_mut()).enumerate() {
            let target = off + if k == label { 1.0 - smoothing } else { 0.0 };
            let logp = f64::from(z) - lse;
            loss -= target * logp;
            *gk = ((logp.exp() - target) / batch as f64) as f32;
        }
        total += loss;
        // The first largest logit is the prediction, as argmax.
        let pred = row.iter().enumerate().fold(0, |best, (k, &v)| if v > row[best] { k } else { best });
        correct += usize::from(pred == label);
    }
    LossAndGrad { loss: total / batch.max(1) as f64, grad, correct }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gradient against central differences of the loss, with and without smoothing.
    #[test]
    fn gradient_matches_finite_differences() {
        let logits: Vec<f32> = (0..12).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.7).collect();
        let labels = [1u32, 3, 0];
        for smoothing in [0.0, 0.1] {
            let base = cross_entropy(&logits, &labels, 4, smoothing);
            for i in 0..logits.len() {
                let mut up = logits.clone();
                let mut down = logits.clone();
                up[i] += 1e-3;
                down[i] -= 1e-3;
                let fd = (cross_entropy(&up, &labels, 4, smoothing).loss
                    - cross_entropy(&down, &labels, 4, smoothing).loss)
                    / 2e-3;
                assert!((fd - f64::from(base.grad[i])).abs() < 1e-4, "logit {i}: {fd} vs {}", base.grad[i]);
            }
        }
        // Uniform logits: the loss is ln K whatever the smoothing.
        let flat = cross_entropy(&[0.0; 4], &[2], 4, 0.3);
        assert!((flat.loss - 4f64.ln()).abs() < 1e-12);
    }
}
