package dev.lathe.worker.engine;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.llama.Llama;
import dev.lathe.worker.model.llama.LoraHook;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code forward} and {@code forward_backward} on a batch of examples: one padded forward pass,
 * per-token log-probabilities of the targets, the summed loss, and (with backward) the loss's
 * gradient added to every parameter the {@link LoraHook} uses.
 */
public final class ForwardBackward {

  /** One datum: its tokens and, per loss input name, one value per token. */
  public record Example(int[] tokens, Map<String, double[]> inputs) {

    public Example {
      for (var e : inputs.entrySet()) {
        if (e.getValue().length != tokens.length) {
          throw new IllegalArgumentException(
              e.getKey()
                  + " has "
                  + e.getValue().length
                  + " values for "
                  + tokens.length
                  + " tokens");
        }
      }
    }
  }

  /** Per-example log-probabilities of the targets, and the loss summed over all of them. */
  public record Result(List<float[]> logprobs, double loss, long tokens) {}

  private ForwardBackward() {}

  /**
   * Runs the batch. Arrays are created in a sub-manager of the model's input manager and all
   * intermediates are released before returning.
   */
  public static Result run(
      Llama model,
      LoraHook lora,
      List<Example> examples,
      LossFn loss,
      Map<String, Double> config,
      boolean backward,
      NDManager manager) {
    if (examples.isEmpty()) {
      return new Result(List.of(), 0, 0);
    }
    GradMode.off();
    try (NDManager m = manager.newSubManager();
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Batch batch = Batch.of(examples, model.dtype(), m);
      if (!backward) {
        return batch.result(terms(model, lora, batch, loss, config));
      }
      try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
        NDArray[] lpAndLoss = terms(model, lora, batch, loss, config);
        gc.backward(lpAndLoss[1]);
        return batch.result(lpAndLoss);
      } finally {
        GradMode.off();
      }
    }
  }

  /** [lp [B, T], loss scalar]. */
  private static NDArray[] terms(
      Llama model, LoraHook lora, Batch b, LossFn loss, Map<String, Double> config) {
    NDArray logits = model.forward(b.tokens, b.lengths, lora, null); // [B, T, V]
    NDArray lp = logits.logSoftmax(-1).gather(b.targets.expandDims(-1), -1).squeeze(-1); // [B, T]
    NDArray total = loss.terms(lp, b.inputs, config).mul(b.mask).sum();
    return new NDArray[] {lp, total};
  }

  /** Examples right-padded to [B, T] with a mask of the real tokens. */
  private record Batch(
      NDArray tokens,
      int[] lengths,
      NDArray targets,
      Map<String, NDArray> inputs,
      NDArray mask,
      List<Example> examples) {

    static Batch of(List<Example> examples, DataType dtype, NDManager m) {
      int b = examples.size();
      int t = examples.stream().mapToInt(e -> e.tokens().length).max().orElse(0);
      long[] tokens = new long[b * t];
      long[] targets = new long[b * t];
      double[] mask = new double[b * t];
      int[] lengths = new int[b];
      Map<String, double[]> padded = new HashMap<>();
      for (int r = 0; r < b; r++) {
        Example e = examples.get(r);
        lengths[r] = e.tokens().length;
        double[] tt = e.inputs().get("target_tokens");
        for (int i = 0; i < lengths[r]; i++) {
          tokens[r * t + i] = e.tokens()[i];
          targets[r * t + i] = tt == null ? 0 : (long) tt[i];
          mask[r * t + i] = 1;
        }
        for (var in : e.inputs().entrySet()) {
          double[] dst = padded.computeIfAbsent(in.getKey(), k -> new double[b * t]);
          System.arraycopy(in.getValue(), 0, dst, r * t, lengths[r]);
        }
      }
      for (var in : padded.keySet()) {
        for (Example e : examples) {
          if (!e.inputs().containsKey(in)) {
            throw new IllegalArgumentException("every datum must carry " + in + " or none");
          }
        }
      }
      Shape shape = new Shape(b, t);
      Map<String, NDArray> inputs = new HashMap<>();
      padded.forEach((k, v) -> inputs.put(k, m.create(v, shape).toType(dtype, false)));
      return new Batch(
          m.create(tokens, shape),
          lengths,
          m.create(targets, shape),
          inputs,
          m.create(mask, shape).toType(dtype, false),
          examples);
    }

    Result result(NDArray[] lpAndLoss) {
      NDArray lp = lpAndLoss[0].toType(DataType.FLOAT32, false);
      int t = (int) lp.getShape().get(1);
      float[] all = lp.toFloatArray();
      List<float[]> out = new ArrayList<>(examples.size());
      long n = 0;
      for (int r = 0; r < examples.size(); r++) {
        float[] row = new float[lengths[r]];
        System.arraycopy(all, r * t, row, 0, lengths[r]);
        out.add(row);
        n += lengths[r];
      }
      double loss = lpAndLoss[1].toType(DataType.FLOAT64, false).getDouble();
      return new Result(out, loss, n);
    }
  }
}
