package dev.lathe.contracts.model;

import dev.lathe.contracts.Wire;
import java.util.Map;

/** One training example: its input and the named tensors its loss function reads. */
@Wire
public record Datum(ModelInput modelInput, Map<String, TensorData> lossFnInputs) {

  public Datum {
    lossFnInputs = lossFnInputs == null ? Map.of() : lossFnInputs;
  }
}
