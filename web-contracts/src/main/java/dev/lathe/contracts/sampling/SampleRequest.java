package dev.lathe.contracts.sampling;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import dev.lathe.contracts.model.ModelInput;

/**
 * {@code POST /api/v1/asample}: samples {@code num_samples} continuations of a prompt from a
 * sampling session, a sampler checkpoint ({@code model_path}) or a base model.
 */
@Wire
public record SampleRequest(
    Integer numSamples,
    ModelInput prompt,
    SamplingParams samplingParams,
    String baseModel,
    String modelPath,
    String samplingSessionId,
    Integer seqId,
    Boolean promptLogprobs,
    Integer topkPromptLogprobs) {

  public SampleRequest {
    numSamples = numSamples == null ? 1 : numSamples;
    topkPromptLogprobs = topkPromptLogprobs == null ? 0 : topkPromptLogprobs;
  }

  @JsonProperty("type")
  public String type() {
    return "sample";
  }
}
