package dev.lathe.contracts.training;

import dev.lathe.contracts.Wire;
import dev.lathe.contracts.model.Datum;
import java.util.List;
import java.util.Map;

/** A batch of examples and the loss to compute over them. */
@Wire
public record ForwardBackwardInput(
    List<Datum> data, LossFnType lossFn, Map<String, Double> lossFnConfig) {

  public ForwardBackwardInput {
    data = data == null ? List.of() : data;
  }
}
