package dev.lathe.worker.runtime;

import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.loss.LossFn;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/** Wire data to engine examples, refusing what the model cannot take with a user error. */
final class Inputs {

  private Inputs() {}

  /** Tokens in a forward or forward_backward request's data, read from its JSON body. */
  static int tokenCount(Claimed c) {
    String input = c.kind().equals("forward") ? "forward_input" : "forward_backward_input";
    int n = 0;
    for (JsonNode datum : c.body().path(input).path("data")) {
      for (JsonNode chunk : datum.path("model_input").path("chunks")) {
        n += chunk.path("tokens").size();
      }
    }
    return n;
  }

  static int[] tokens(ModelInput input, int vocab, String field) {
    int[] tokens;
    try {
      tokens = input.tokens();
    } catch (IllegalArgumentException e) {
      throw new UserError(field + "." + e.getMessage() + ": Lathe serves text models");
    }
    if (tokens.length == 0) {
      throw new UserError(field + " has no tokens");
    }
    for (int i = 0; i < tokens.length; i++) {
      if (tokens[i] < 0 || tokens[i] >= vocab) {
        throw new UserError(
            field
                + " token "
                + tokens[i]
                + " at "
                + i
                + " is outside the vocabulary [0, "
                + vocab
                + ")");
      }
    }
    return tokens;
  }

  static List<ForwardBackward.Example> examples(List<Datum> data, LossFn loss, int vocab) {
    if (data.isEmpty()) {
      throw new UserError("data must hold at least one datum");
    }
    List<ForwardBackward.Example> out = new ArrayList<>(data.size());
    for (int d = 0; d < data.size(); d++) {
      String at = "data[" + d + "]";
      Datum datum = data.get(d);
      if (datum.modelInput() == null) {
        throw new UserError(at + ".model_input is required");
      }
      int[] tokens = tokens(datum.modelInput(), vocab, at + ".model_input");
      Map<String, double[]> inputs = new HashMap<>();
      for (var e : datum.lossFnInputs().entrySet()) {
        String field = at + ".loss_fn_inputs." + e.getKey();
        if (!loss.requiredInputs().contains(e.getKey())
            && !loss.optionalInputs().contains(e.getKey())) {
          continue; // inputs another loss would read
        }
        inputs.put(e.getKey(), values(e.getValue(), tokens.length, field));
      }
      for (String required : loss.requiredInputs()) {
        if (!inputs.containsKey(required)) {
          throw new UserError(
              at + ".loss_fn_inputs." + required + " is required by " + loss.wireName());
        }
      }
      double[] targets = inputs.get("target_tokens");
      for (int i = 0; i < targets.length; i++) {
        if (targets[i] != Math.rint(targets[i]) || targets[i] < 0 || targets[i] >= vocab) {
          throw new UserError(
              at
                  + ".loss_fn_inputs.target_tokens["
                  + i
                  + "] = "
                  + targets[i]
                  + " is not a token id below the vocabulary size "
                  + vocab);
        }
      }
      out.add(new ForwardBackward.Example(tokens, inputs));
    }
    return out;
  }

  private static double[] values(TensorData t, int tokens, String field) {
    double[] v;
    try {
      if (t.dtype() == null) {
        throw new IllegalArgumentException("dtype is required");
      }
      int[] shape = t.denseShape();
      if (shape.length != 1) {
        throw new IllegalArgumentException(
            "must be 1-D (one value per token), shape is " + t.shape());
      }
      v = t.denseValues();
    } catch (IllegalArgumentException | ArithmeticException e) {
      throw new UserError(field + ": " + e.getMessage());
    }
    if (v.length != tokens) {
      throw new UserError(field + " has " + v.length + " values for " + tokens + " tokens");
    }
    for (int i = 0; i < v.length; i++) {
      if (!Double.isFinite(v[i])) {
        throw new UserError(field + "[" + i + "] is not a finite number");
      }
    }
    return v;
  }
}
