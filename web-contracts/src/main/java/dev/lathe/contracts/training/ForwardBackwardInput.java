package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;
import dev.lathe.contracts.model.Datum;
import java.util.List;
import java.util.Map;

/**
 * A batch of examples and the loss to compute over them. {@code loss_fn_config} also takes Lathe's
 * {@value #KL_FROM_BASE} (1: on {@code forward} only, measure the KL divergence of the adapter's
 * next-token distributions from the base model's at every position).
 */
@Wire
public record ForwardBackwardInput(
    List<Datum> data, LossFnType lossFn, Map<String, Double> lossFnConfig) {

  /** The forgetting probe's option in {@code loss_fn_config}. */
  public static final String KL_FROM_BASE = "kl_from_base";

  public ForwardBackwardInput {
    data = data == null ? List.of() : data;
  }
}
