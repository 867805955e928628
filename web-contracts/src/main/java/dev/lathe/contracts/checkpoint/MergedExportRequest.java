package dev.lathe.contracts.checkpoint;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;

/**
 * {@code POST /api/v1/merged_export} (a Lathe extension): writes a checkpoint merged into its base
 * model as one plain Hugging Face model directory, which then downloads as a tar.
 *
 * @param modelPath a checkpoint of the caller's tenant, {@code tinker://<run>/weights/<name>} or
 *     {@code .../sampler_weights/<name>}
 */
@Wire
public record MergedExportRequest(String modelPath) {

  @JsonProperty("type")
  public String type() {
    return "merged_export";
  }
}
