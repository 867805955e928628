package dev.lathe.contracts.sampling;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.lathe.contracts.Wire;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.TensorData;

/**
 * {@code POST /api/v1/asample}: samples {@code num_samples} continuations of a prompt from a
 * sampling session, a sampler checkpoint ({@code model_path}) or a base model. The current SDK adds
 * {@code topk_sample_logprobs} (the k most likely tokens at each sampled position), {@code
 * prompt_logprobs_last_n}, {@code target_prompt_logprobs}, {@code prompt_alt_tokens_k} and {@code
 * record_stability_info}.
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
    Integer topkPromptLogprobs,
    Integer topkSampleLogprobs,
    Integer promptLogprobsLastN,
    TensorData targetPromptLogprobs,
    Integer promptAltTokensK,
    Boolean recordStabilityInfo) {

  public SampleRequest {
    numSamples = numSamples == null ? 1 : numSamples;
    topkPromptLogprobs = topkPromptLogprobs == null ? 0 : topkPromptLogprobs;
  }

  /** A request with only the fields of the JSON-only SDK. */
  public SampleRequest(
      Integer numSamples,
      ModelInput prompt,
      SamplingParams samplingParams,
      String baseModel,
      String modelPath,
      String samplingSessionId,
      Integer seqId,
      Boolean promptLogprobs,
      Integer topkPromptLogprobs) {
    this(
        numSamples,
        prompt,
        samplingParams,
        baseModel,
        modelPath,
        samplingSessionId,
        seqId,
        promptLogprobs,
        topkPromptLogprobs,
        null,
        null,
        null,
        null,
        null);
  }

  @JsonProperty("type")
  public String type() {
    return "sample";
  }
}
