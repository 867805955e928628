package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;

/**
 * AdamW hyper-parameters of one {@code optim_step}, with the SDK's defaults. Weight decay is
 * decoupled; {@code grad_clip_norm} clips the global gradient norm, 0 means no clipping.
 */
@Wire
public record AdamParams(
    Double learningRate,
    Double beta1,
    Double beta2,
    Double eps,
    Double weightDecay,
    Double gradClipNorm) {

  public AdamParams {
    learningRate = learningRate == null ? 1e-4 : learningRate;
    beta1 = beta1 == null ? 0.9 : beta1;
    beta2 = beta2 == null ? 0.95 : beta2;
    eps = eps == null ? 1e-12 : eps;
    weightDecay = weightDecay == null ? 0.0 : weightDecay;
    gradClipNorm = gradClipNorm == null ? 0.0 : gradClipNorm;
  }

  public static AdamParams ofLearningRate(double learningRate) {
    return new AdamParams(learningRate, null, null, null, null, null);
  }
}
