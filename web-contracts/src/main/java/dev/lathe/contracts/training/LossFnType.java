package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;

/** The built-in losses. Each is summed over tokens; clients scale through weights. */
public enum LossFnType {
  @JsonProperty("cross_entropy")
  CROSS_ENTROPY,
  @JsonProperty("importance_sampling")
  IMPORTANCE_SAMPLING,
  @JsonProperty("ppo")
  PPO,
  @JsonProperty("cispo")
  CISPO,
  @JsonProperty("dro")
  DRO
}
