package dev.lathe.contracts.checkpoint;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import java.util.List;

/**
 * The result of {@code merged_export}: the merged model is stored with its checkpoint (counted in
 * the checkpoint's size, deleted with it) and downloads from {@code GET
 * /api/v1/training_runs/{run}/checkpoints/{kind}/{name}/merged_archive}.
 *
 * @param files the model directory's files: {@code config.json}, {@code model.safetensors} (every
 *     adapted weight W + s·B·A, or DoRA's m ⊙ (W + s·B·A) / ‖W + s·B·A‖, in float32) and the base
 *     model's tokenizer files
 * @param sizeBytes their bytes together
 */
@Wire
public record MergedExportResponse(String modelPath, List<String> files, long sizeBytes) {

  /** The directory, inside its checkpoint's, that holds a merged export. */
  public static final String DIRECTORY = "merged";

  @JsonProperty("type")
  public String type() {
    return "merged_export";
  }
}
