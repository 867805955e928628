package dev.lathe.sdk;

import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.TensorData;
import java.util.List;
import java.util.Map;

/** Checks made before anything is sent; each names the field it refuses. */
final class Validate {

  private Validate() {}

  static void data(List<Datum> data) {
    if (data == null || data.isEmpty()) {
      throw new IllegalArgumentException("data must hold at least one datum");
    }
    for (int i = 0; i < data.size(); i++) {
      Datum d = data.get(i);
      String at = "data[" + i + "]";
      if (d == null || d.modelInput() == null) {
        throw new IllegalArgumentException(at + ".model_input is required");
      }
      int n = d.modelInput().length();
      if (n == 0) {
        throw new IllegalArgumentException(at + ".model_input has no tokens");
      }
      for (Map.Entry<String, TensorData> e : d.lossFnInputs().entrySet()) {
        String field = at + ".loss_fn_inputs." + e.getKey();
        double[] v;
        try {
          v = e.getValue().denseValues();
        } catch (RuntimeException ex) {
          throw new IllegalArgumentException(field + ": " + ex.getMessage(), ex);
        }
        if (v.length != n) {
          throw new IllegalArgumentException(
              field + " has " + v.length + " values for " + n + " tokens");
        }
        for (int j = 0; j < v.length; j++) {
          if (!Double.isFinite(v[j])) {
            throw new IllegalArgumentException(field + "[" + j + "] is " + v[j]);
          }
        }
      }
    }
  }
}
