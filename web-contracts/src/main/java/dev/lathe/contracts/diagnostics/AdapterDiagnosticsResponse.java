package dev.lathe.contracts.diagnostics;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.List;

/**
 * The result of {@code adapter_diagnostics}: every adapted module, and a summary per layer.
 *
 * @param modelPath the checkpoint diagnosed, or null for a training run's live adapter
 * @param modelId the training run whose live adapter was diagnosed, or null for a checkpoint
 * @param scaling the adapter's s in ΔW = s·B·A (α/r, or α/√r with rsLoRA)
 * @param dora whether the adapter is DoRA: W' = D·(W + s·B·A) with D = diag(m / ‖W + s·B·A‖ per
 *     row); then each module's norms are of the whole W' − W, its singular values those of D·s·B·A
 *     and its intruders those of W'
 */
@Wire
public record AdapterDiagnosticsResponse(
    String modelPath,
    String modelId,
    String baseModel,
    int rank,
    double scaling,
    boolean dora,
    int topK,
    double intruderThreshold,
    List<Module> modules,
    List<Layer> layers) {

  /**
   * One adapted linear layer.
   *
   * @param module its path, e.g. {@code model.layers.3.self_attn.q_proj}
   * @param layer its decoder layer, or -1 for {@code lm_head}
   * @param deltaNorm ‖s·B·A‖_F
   * @param baseNorm ‖W‖_F
   * @param relativeNorm deltaNorm / baseNorm
   * @param singularValues of s·B·A, descending (its rank is at most r: r values)
   * @param effectiveRank exp of the entropy of the normalised singular values (0 when ΔW = 0)
   * @param intruderDimensions of the top-k singular vectors of W + s·B·A, those whose largest
   *     |cosine| with the base's singular vectors is below the threshold
   * @param magnitudeChange DoRA only (else null): ‖m − m₀‖ / ‖W‖_F, how far the magnitudes moved
   *     from their start m₀ = ‖W‖ per row
   */
  @Wire
  public record Module(
      String module,
      int layer,
      String name,
      double deltaNorm,
      double baseNorm,
      double relativeNorm,
      List<Double> singularValues,
      double effectiveRank,
      int intruderDimensions,
      Double magnitudeChange) {}

  /**
   * A decoder layer's modules together.
   *
   * @param deltaNorm the Frobenius norm of all its modules' ΔW together
   */
  @Wire
  public record Layer(
      int layer,
      int modules,
      double deltaNorm,
      double meanRelativeNorm,
      double meanEffectiveRank,
      int intruderDimensions) {}

  @JsonProperty("type")
  public String type() {
    return "adapter_diagnostics";
  }
}
