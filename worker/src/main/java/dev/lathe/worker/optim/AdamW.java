package dev.lathe.worker.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.lora.LoraAdapter;

/**
 * AdamW on an adapter's accumulated gradients, with Tinker's {@code adam_params}: bias-corrected
 * moments, decoupled weight decay (p ← p·(1 − lr·wd), as PyTorch's AdamW), optional clipping of the
 * global gradient norm, and LoRA+'s larger learning rate for B. Gradients are zeroed after.
 */
public final class AdamW {

  /** Hyper-parameters of one step. */
  public record Params(
      double learningRate,
      double beta1,
      double beta2,
      double eps,
      double weightDecay,
      double gradClipNorm) {}

  /** What a step did: the global gradient norm before clipping, and the learning rate. */
  public record Result(double gradNorm, double learningRate, int step) {}

  private AdamW() {}

  /**
   * One step over the adapter's flat buffers ({@link LoraAdapter#flatParameters()}): the same dozen
   * operations however many tensors it has, where a step tensor by tensor costs a dozen each
   * (launch- and JNI-bound for LoRA's many small matrices), and one read of the gradient norm.
   */
  public static Result step(LoraAdapter adapter, Params p) {
    GradMode.off(); // the update writes into the parameters in place
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray value = adapter.flatParameters(); // [P]
      NDArray[] mv = adapter.flatMoments(); // [P] each
      NDArray g = adapter.flatGradient(); // [P]
      double norm = Math.sqrt(g.square().sum().toType(DataType.FLOAT64, false).getDouble());
      double clip = p.gradClipNorm() > 0 && norm > p.gradClipNorm() ? p.gradClipNorm() / norm : 1.0;
      if (clip != 1.0) {
        g = g.mul(clip);
      }
      int t = adapter.step() + 1;
      double correction1 = 1 - Math.pow(p.beta1(), t);
      double correction2 = 1 - Math.pow(p.beta2(), t);
      // In place where it can be: the update is memory-bound on a large adapter, a pass a
      // temporary.
      mv[0].muli(p.beta1()).addi(g.mul(1 - p.beta1()));
      mv[1].muli(p.beta2()).addi(g.square().muli(1 - p.beta2()));
      // m̂ / (√v̂ + ε) = (m / c1) / (√v / √c2 + ε)
      NDArray denominator = mv[1].sqrt().muli(1 / Math.sqrt(correction2)).addi(p.eps());
      NDArray update = mv[0].div(denominator).muli(1 / correction1);
      // LoRA+: B learns ratio times faster; lr per element when the ratio is not 1.
      double ratio = adapter.spec().loraPlusRatio();
      NDArray lr = null;
      if (ratio != 1.0) {
        lr = value.onesLike().mul(p.learningRate());
        for (long[] b : adapter.bRanges()) {
          lr.set(new NDIndex("{}:{}", b[0], b[1]), p.learningRate() * ratio);
        }
      }
      if (p.weightDecay() != 0) {
        if (lr == null) {
          value.muli(1 - p.learningRate() * p.weightDecay());
        } else {
          value.subi(value.mul(lr).mul(p.weightDecay()));
        }
      }
      value.subi(lr == null ? update.muli(p.learningRate()) : update.muli(lr));
      adapter.setStep(t);
      adapter.zeroGradients();
      return new Result(norm, p.learningRate(), t);
    }
  }
}
