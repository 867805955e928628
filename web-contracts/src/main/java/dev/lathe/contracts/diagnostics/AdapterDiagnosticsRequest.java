package dev.lathe.contracts.diagnostics;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/**
 * {@code POST /api/v1/adapter_diagnostics} (a Lathe extension): how far a saved adapter moved its
 * base model, per adapted module.
 *
 * <p>Exactly one of {@code modelPath} and {@code modelId}:
 *
 * @param modelPath a checkpoint, {@code tinker://<run>/weights/<name>} or {@code
 *     .../sampler_weights/<name>}, of the caller's tenant
 * @param modelId a training run of the caller's tenant: its adapter as it stands when the request
 *     runs (between two of its steps)
 * @param topK how many of the adapted weight's leading singular vectors are checked for intruder
 *     dimensions (default 10)
 * @param intruderThreshold a leading singular vector whose largest cosine similarity with every
 *     singular vector of the base weight is below this is an intruder dimension (default 0.5)
 */
@Wire
public record AdapterDiagnosticsRequest(
    String modelPath, String modelId, Integer topK, Double intruderThreshold) {

  public static final int DEFAULT_TOP_K = 10;
  public static final double DEFAULT_THRESHOLD = 0.5;

  @JsonProperty("type")
  public String type() {
    return "adapter_diagnostics";
  }
}
