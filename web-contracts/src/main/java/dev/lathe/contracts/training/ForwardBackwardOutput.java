package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;
import dev.lathe.contracts.model.TensorData;
import java.util.List;
import java.util.Map;

/**
 * Result of {@code forward} and {@code forward_backward}: one output map per datum, in request
 * order (e.g. {@code logprobs}), and metrics keyed {@code name:reduction} (e.g. {@code loss:sum}).
 */
@Wire
public record ForwardBackwardOutput(
    String lossFnOutputType,
    List<Map<String, TensorData>> lossFnOutputs,
    Map<String, Double> metrics) {

  public ForwardBackwardOutput {
    lossFnOutputs = lossFnOutputs == null ? List.of() : lossFnOutputs;
    metrics = metrics == null ? Map.of() : metrics;
  }
}
