package dev.lathe.worker.loss;

import ai.djl.ndarray.NDArray;
import dev.lathe.worker.engine.Scalars;
import java.util.List;
import java.util.Map;

/**
 * Tinker's losses over per-token log-probabilities lp of the target tokens. Every loss is a sum
 * over tokens, never a mean: clients scale through {@code weights} or {@code advantages}. With r =
 * exp(lp − lp_old) the ratio to the sampler's log-probabilities:
 *
 * <ul>
 *   <li>cross_entropy: −Σ w·lp
 *   <li>importance_sampling: −Σ r·A
 *   <li>ppo: −Σ min(r·A, clip(r, lo, hi)·A)
 *   <li>cispo: −Σ sg(clip(r, lo, hi))·lp·A
 *   <li>dro: −Σ (lp·A − ½β(lp − lp_old)²)
 * </ul>
 */
public enum LossFn {
  CROSS_ENTROPY(List.of("target_tokens"), List.of("weights")),
  IMPORTANCE_SAMPLING(List.of("target_tokens", "logprobs", "advantages"), List.of()),
  PPO(List.of("target_tokens", "logprobs", "advantages"), List.of()),
  CISPO(List.of("target_tokens", "logprobs", "advantages"), List.of()),
  DRO(List.of("target_tokens", "logprobs", "advantages"), List.of());

  public static final double DEFAULT_CLIP_LOW = 0.8;
  public static final double DEFAULT_CLIP_HIGH = 1.2;

  private final List<String> required;
  private final List<String> optional;

  LossFn(List<String> required, List<String> optional) {
    this.required = required;
    this.optional = optional;
  }

  /** The {@code loss_fn_inputs} every datum must carry. */
  public List<String> requiredInputs() {
    return required;
  }

  /** The inputs it also reads when present ({@code weights} default to 1). */
  public List<String> optionalInputs() {
    return optional;
  }

  /** The wire name, e.g. {@code cross_entropy}. */
  public String wireName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }

  /**
   * Per-token loss terms [B, T]; summing them gives the loss.
   *
   * @param lp log-probabilities of the targets [B, T]
   * @param in the datum inputs, padded to [B, T]; {@code weights} may be absent
   * @param config {@code loss_fn_config}, may be empty
   */
  public NDArray terms(NDArray lp, Map<String, NDArray> in, Map<String, Double> config) {
    return switch (this) {
      case CROSS_ENTROPY -> {
        NDArray w = in.get("weights");
        yield w == null ? lp.neg() : lp.mul(w).neg();
      }
      case IMPORTANCE_SAMPLING -> ratio(lp, in).mul(in.get("advantages")).neg();
      case PPO -> {
        NDArray r = ratio(lp, in);
        NDArray a = in.get("advantages");
        NDArray clipped = r.clip(clipLow(config), clipHigh(config)).mul(a);
        yield r.mul(a).minimum(clipped).neg();
      }
      case CISPO -> {
        NDArray weight = ratio(lp, in).clip(clipLow(config), clipHigh(config)).stopGradient();
        yield weight.mul(lp).mul(in.get("advantages")).neg();
      }
      case DRO -> {
        double beta = config.getOrDefault("beta", Double.NaN);
        if (Double.isNaN(beta)) {
          throw new IllegalArgumentException("loss_fn_config.beta is required for dro");
        }
        NDArray diff = lp.sub(in.get("logprobs"));
        yield lp.mul(in.get("advantages"))
            .sub(diff.square().mul(Scalars.of(lp.getManager(), 0.5 * beta, lp.getDataType())))
            .neg();
      }
    };
  }

  private static NDArray ratio(NDArray lp, Map<String, NDArray> in) {
    return lp.sub(in.get("logprobs")).exp();
  }

  private static double clipLow(Map<String, Double> config) {
    return config.getOrDefault("clip_low_threshold", DEFAULT_CLIP_LOW);
  }

  private static double clipHigh(Map<String, Double> config) {
    return config.getOrDefault("clip_high_threshold", DEFAULT_CLIP_HIGH);
  }
}
