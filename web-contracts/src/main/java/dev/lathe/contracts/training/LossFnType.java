package dev.lathe.contracts.training;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Arrays;
import java.util.Locale;

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
  DRO;

  /** The name on the wire, e.g. {@code cross_entropy}. */
  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Every wire name, in declaration order. */
  public static String[] wireNames() {
    return Arrays.stream(values()).map(LossFnType::wireName).toArray(String[]::new);
  }
}
