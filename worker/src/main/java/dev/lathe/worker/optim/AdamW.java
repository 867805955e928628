package dev.lathe.worker.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.lora.LoraAdapter;
import java.util.List;

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

  public static Result step(LoraAdapter adapter, Params p) {
    GradMode.off(); // the update writes into the parameters in place
    List<LoraAdapter.Param> params = adapter.parameters();
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      double sumSquares = 0;
      for (LoraAdapter.Param param : params) {
        sumSquares +=
            param
                .value()
                .getGradient()
                .square()
                .sum()
                .toType(ai.djl.ndarray.types.DataType.FLOAT64, false)
                .getDouble();
      }
      double norm = Math.sqrt(sumSquares);
      double clip = p.gradClipNorm() > 0 && norm > p.gradClipNorm() ? p.gradClipNorm() / norm : 1.0;
      int t = adapter.step() + 1;
      double correction1 = 1 - Math.pow(p.beta1(), t);
      double correction2 = 1 - Math.pow(p.beta2(), t);
      double ratio = adapter.spec().loraPlusRatio();
      for (LoraAdapter.Param param : params) {
        NDArray value = param.value();
        NDArray g = value.getGradient().mul(clip);
        NDArray[] mv = adapter.moments(param);
        mv[0].muli(p.beta1()).addi(g.mul(1 - p.beta1()));
        mv[1].muli(p.beta2()).addi(g.square().mul(1 - p.beta2()));
        double lr = param.isB() ? p.learningRate() * ratio : p.learningRate();
        if (p.weightDecay() != 0) {
          value.muli(1 - lr * p.weightDecay());
        }
        NDArray update = mv[0].div(correction1).div(mv[1].div(correction2).sqrt().add(p.eps()));
        value.subi(update.mul(lr));
      }
      adapter.setStep(t);
      adapter.zeroGradients();
      return new Result(norm, p.learningRate(), t);
    }
  }
}
