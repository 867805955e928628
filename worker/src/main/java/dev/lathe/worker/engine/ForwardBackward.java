package dev.lathe.worker.engine;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraGather;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.llama.Llama;
import dev.lathe.worker.model.llama.LoraHook;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * {@code forward} and {@code forward_backward} on a batch of examples: one padded forward pass,
 * per-token log-probabilities of the targets, the summed loss, and (with backward) the loss's
 * gradient added to every adapter parameter the batch used.
 *
 * <p>A batch may fuse the jobs of many adapters: the rows of all jobs share one forward and one
 * backward pass over the frozen base model, each job's rows use its own adapter and loss, and each
 * adapter receives the gradient of its own jobs only.
 *
 * <p>A job that asks for its KL divergence from the base model runs each of its examples twice in
 * the batch, on its adapter and on the plain base model, and compares the two next-token
 * distributions at every position.
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

  /**
   * One request's share of a batch: its examples run on {@code adapter} (null: the base model) with
   * its loss; {@code backward} adds the loss's gradient to the adapter; {@code klFromBase} also
   * measures, per token, KL(p_adapter ‖ p_base) of the next-token distributions (forward only).
   */
  public record Job(
      LoraAdapter adapter,
      List<Example> examples,
      LossFn loss,
      Map<String, Double> config,
      boolean backward,
      boolean klFromBase) {

    public Job {
      if (backward && adapter == null) {
        throw new IllegalArgumentException("backward needs an adapter");
      }
      if (klFromBase && backward) {
        throw new IllegalArgumentException(
            "the KL from the base model is measured by forward only");
      }
      examples = List.copyOf(examples);
      config = Map.copyOf(config);
    }

    public Job(
        LoraAdapter adapter,
        List<Example> examples,
        LossFn loss,
        Map<String, Double> config,
        boolean backward) {
      this(adapter, examples, loss, config, backward, false);
    }

    long tokens() {
      return examples.stream().mapToLong(e -> e.tokens().length).sum();
    }
  }

  /**
   * Per-example log-probabilities of the targets, and the loss summed over all of them; with {@code
   * klFromBase}, per-example KL from the base model at each position (else null).
   */
  public record Result(List<float[]> logprobs, double loss, long tokens, List<float[]> kl) {

    Result(List<float[]> logprobs, double loss, long tokens) {
      this(logprobs, loss, tokens, null);
    }
  }

  private ForwardBackward() {}

  /** One job on its own. */
  public static Result run(
      Llama model,
      LoraAdapter adapter,
      List<Example> examples,
      LossFn loss,
      Map<String, Double> config,
      boolean backward,
      NDManager manager) {
    return run(model, List.of(new Job(adapter, examples, loss, config, backward)), manager)
        .getFirst();
  }

  /**
   * Runs the jobs as one fused batch and returns their results in order. Arrays are created in a
   * sub-manager of {@code manager} and all intermediates are released before returning.
   */
  public static List<Result> run(Llama model, List<Job> jobs, NDManager manager) {
    List<Job> nonEmpty = jobs.stream().filter(j -> !j.examples().isEmpty()).toList();
    if (nonEmpty.isEmpty()) {
      return jobs.stream().map(j -> new Result(List.of(), 0, 0)).toList();
    }
    GradMode.off();
    try (NDManager m = manager.newSubManager();
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Batch batch = Batch.of(nonEmpty, model.dtype(), m);
      boolean backward = nonEmpty.stream().anyMatch(Job::backward);
      List<Result> results;
      if (!backward) {
        results = batch.results(terms(model, batch));
      } else {
        try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
          Terms terms = terms(model, batch);
          gc.backward(terms.backwardLoss());
          results = batch.results(terms);
        } finally {
          GradMode.off();
        }
      }
      List<Result> out = new ArrayList<>(jobs.size());
      int next = 0;
      for (Job j : jobs) {
        out.add(j.examples().isEmpty() ? new Result(List.of(), 0, 0) : results.get(next++));
      }
      return out;
    }
  }

  /**
   * lp [B, T]: log-probability of each target; losses: one scalar per job; backwardLoss: the sum of
   * the losses of the jobs that run backward; kl: per job, its KL from the base [b, T] or null.
   */
  private record Terms(NDArray lp, List<Double> losses, NDArray backwardLoss, List<NDArray> kl) {}

  private static Terms terms(Llama model, Batch b) {
    NDArray logits = model.forward(b.tokens, b.lengths, b.lora, null); // [B, T, V]
    NDArray logp = logits.logSoftmax(-1); // [B, T, V]
    NDArray lp = logp.gather(b.targets.expandDims(-1), -1).squeeze(-1); // [B, T]
    NDList sums = new NDList(b.parts.size());
    List<NDArray> kl = new ArrayList<>(b.parts.size());
    NDArray backwardLoss = null;
    for (Part p : b.parts) {
      kl.add(p.baseRow < 0 ? null : klFromBase(logp, p));
      NDArray rows = lp.get(new NDIndex("{}:{}", p.firstRow, p.firstRow + p.rows)); // [b, T]
      NDArray terms = p.job.loss().terms(rows, p.inputs, p.job.config()).mul(p.mask); // [b, T]
      // Reported in fp64 so that a job's loss does not depend on what it was batched with;
      // DJL's cast leaves the graph, so backward runs on the fp32 sum (same gradient).
      sums.add(terms.toType(DataType.FLOAT64, false).sum());
      if (p.job.backward()) {
        NDArray loss = terms.sum();
        backwardLoss = backwardLoss == null ? loss : backwardLoss.add(loss);
      }
    }
    // One read for all jobs' losses [jobs] (on a GPU, one synchronisation instead of one per job).
    List<Double> losses = Arrays.stream(NDArrays.stack(sums).toDoubleArray()).boxed().toList();
    return new Terms(lp, losses, backwardLoss, kl);
  }

  /**
   * Σ_v p_a·(log p_a − log p_b) at each position of the job's rows [b, T], ≥ 0; in fp32 at least
   * (the difference of two close log-probabilities loses a half-precision model's digits).
   */
  private static NDArray klFromBase(NDArray logp, Part p) {
    DataType type = logp.getDataType() == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
    NDArray a = logp.get(new NDIndex("{}:{}", p.firstRow, p.firstRow + p.rows)); // [b, T, V]
    NDArray b = logp.get(new NDIndex("{}:{}", p.baseRow, p.baseRow + p.rows)); // [b, T, V]
    a = a.toType(type, false);
    b = b.toType(type, false);
    NDArray kl = a.exp().mul(a.sub(b)).sum(new int[] {-1}); // [b, T]
    return kl.maximum(0).mul(p.mask.toType(type, false)).toType(DataType.FLOAT32, false);
  }

  /**
   * A job's rows in the batch, with its loss inputs and mask [rows, T]; baseRow: where the same
   * examples run on the base model (-1: they do not).
   */
  private record Part(
      Job job, int firstRow, int rows, int baseRow, Map<String, NDArray> inputs, NDArray mask) {}

  /** All jobs' examples right-padded to one [B, T] batch, rows grouped by job. */
  private record Batch(
      NDArray tokens, int[] lengths, NDArray targets, LoraHook lora, List<Part> parts) {

    static Batch of(List<Job> jobs, DataType dtype, NDManager m) {
      int b = jobs.stream().mapToInt(j -> j.examples().size() * (j.klFromBase() ? 2 : 1)).sum();
      int t =
          jobs.stream()
              .flatMap(j -> j.examples().stream())
              .mapToInt(e -> e.tokens().length)
              .max()
              .orElse(0);
      long[] tokens = new long[b * t];
      long[] targets = new long[b * t];
      int[] lengths = new int[b];
      List<Part> parts = new ArrayList<>(jobs.size());
      List<LoraAdapter> adapters = new ArrayList<>(b); // each row's
      int row = 0;
      for (Job job : jobs) {
        int first = row;
        int baseRow = job.klFromBase() ? first + job.examples().size() : -1;
        for (int copy = 0; copy < (job.klFromBase() ? 2 : 1); copy++) { // the second: on the base
          for (Example e : job.examples()) {
            lengths[row] = e.tokens().length;
            double[] tt = e.inputs().get("target_tokens");
            for (int i = 0; i < lengths[row]; i++) {
              tokens[row * t + i] = e.tokens()[i];
              targets[row * t + i] = tt == null ? 0 : (long) tt[i];
            }
            adapters.add(copy == 0 ? job.adapter() : null);
            row++;
          }
        }
        parts.add(part(job, first, baseRow, t, dtype, m));
      }
      Shape shape = new Shape(b, t);
      return new Batch(
          m.create(tokens, shape),
          lengths,
          m.create(targets, shape),
          LoraGather.forRows(adapters, dtype, m),
          parts);
    }

    private static Part part(
        Job job, int firstRow, int baseRow, int t, DataType dtype, NDManager m) {
      List<Example> examples = job.examples();
      int b = examples.size();
      double[] mask = new double[b * t];
      Map<String, double[]> padded = new HashMap<>();
      for (int r = 0; r < b; r++) {
        Example e = examples.get(r);
        Arrays.fill(mask, r * t, r * t + e.tokens().length, 1);
        for (var in : e.inputs().entrySet()) {
          double[] dst = padded.computeIfAbsent(in.getKey(), k -> new double[b * t]);
          System.arraycopy(in.getValue(), 0, dst, r * t, e.tokens().length);
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
      return new Part(
          job, firstRow, b, baseRow, inputs, m.create(mask, shape).toType(dtype, false));
    }

    List<Result> results(Terms terms) {
      NDArray lp = terms.lp().toType(DataType.FLOAT32, false);
      int t = (int) lp.getShape().get(1);
      float[] all = lp.toFloatArray();
      List<Result> out = new ArrayList<>(parts.size());
      for (int j = 0; j < parts.size(); j++) {
        Part p = parts.get(j);
        NDArray kl = terms.kl().get(j);
        out.add(
            new Result(
                rows(all, p.firstRow, p, t),
                terms.losses().get(j),
                IntStream.range(p.firstRow, p.firstRow + p.rows).mapToLong(r -> lengths[r]).sum(),
                kl == null ? null : rows(kl.toFloatArray(), 0, p, t)));
      }
      return out;
    }

    /** The part's rows of a [*, t] array whose row {@code first} is the part's first row. */
    private List<float[]> rows(float[] all, int first, Part p, int t) {
      List<float[]> rows = new ArrayList<>(p.rows);
      for (int r = 0; r < p.rows; r++) {
        int len = lengths[p.firstRow + r];
        float[] row = new float[len];
        System.arraycopy(all, (first + r) * t, row, 0, len);
        rows.add(row);
      }
      return rows;
    }
  }
}
