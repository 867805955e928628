package dev.lathe.worker.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.model.llama.LlamaConfig;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.model.tiny.LatheTiny;
import dev.lathe.worker.optim.AdamW;
import dev.lathe.worker.sampling.Sampler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Engine throughput on lathe-tiny, lathe-tiny-bench and the real SmolLM2-135M-Instruct (installed
 * into {@code .models} by {@code scripts/install-model.sh}), each figure next to a baseline
 * measured in the same run: forward_backward tokens/s and achieved GFLOP/s against a plain fp32
 * matmul of the model's own width; the optimizer step; sampling tokens/s with the KV cache against
 * recomputing the whole context for every token; a DoRA adapter's training step against LoRA's.
 *
 * <pre>bench/engine.sh [tiny|bench|smollm2|all] [batch] [seq]</pre>
 */
public final class EngineBenchmark {

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    String which = args.length > 0 ? args[0] : "all";
    int batch = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    int seq = args.length > 2 ? Integer.parseInt(args[2]) : 128;
    System.out.printf(
        "threads: %d (torch intra-op), batch %d x %d tokens%n",
        Runtime.getRuntime().availableProcessors(), batch, seq);
    forEachModel(which, (base, m) -> run(base, m, batch, seq));
  }

  /** What a benchmark does with one built-in model. */
  interface ModelRun {
    void run(BaseModel base, NDManager m) throws Exception;
  }

  /**
   * Generates (once, under the temporary directory) and loads each built-in model that {@code
   * which} names (tiny, bench or all), or SmolLM2 from {@code .models} (smollm2), and runs the
   * benchmark on it.
   */
  static void forEachModel(String which, ModelRun run) throws Exception {
    Path dir =
        Files.createDirectories(Path.of(System.getProperty("java.io.tmpdir"), "lathe-bench"));
    try (NDManager m = NDManager.newBaseManager()) {
      for (LatheTiny.Size size : LatheTiny.Size.values()) {
        if (which.equals("all") || size.name().equalsIgnoreCase(which)) {
          try (BaseModel base =
              BaseModel.load(BaseModel.resolve(size.modelName(), dir, m), m, DataType.FLOAT32)) {
            run.run(base, m);
          }
        }
      }
      if (which.equals("smollm2")) {
        Path models = Path.of(".models");
        try (BaseModel base =
            BaseModel.load(
                BaseModel.resolve("smollm2-135m-instruct", dir, models, m), m, DataType.FLOAT32)) {
          System.out.println("model directory (for bench/peft_forward_backward.py): " + base.dir());
          run.run(base, m);
        }
      }
    }
  }

  static void run(BaseModel base, NDManager m, int batch, int seq) {
    LlamaConfig c = base.config();
    long n = c.parameterCount();
    System.out.printf(
        "%n== %s: %.1fM parameters, hidden %d, %d layers%n",
        base.name(), n / 1e6, c.hiddenSize(), c.numHiddenLayers());

    double matmul = matmulGflops(m, batch * seq, c.hiddenSize(), c.intermediateSize());
    System.out.printf(
        "baseline fp32 matmul [%d x %d] x [%d x %d]: %.1f GFLOP/s%n",
        batch * seq, c.hiddenSize(), c.hiddenSize(), c.intermediateSize(), matmul);

    List<ForwardBackward.Example> examples = examples(batch, seq, c.vocabSize());
    try (LoraAdapter adapter = LoraAdapter.create(c, LoraSpec.of(32, 0), m, DataType.FLOAT32)) {
      AdamW.Params adam = new AdamW.Params(1e-4, 0.9, 0.95, 1e-12, 0, 0);
      Timing fb =
          time(
              3,
              10,
              () ->
                  ForwardBackward.run(
                      base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), true, m));
      Timing fwd =
          time(
              3,
              10,
              () ->
                  ForwardBackward.run(
                      base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), false, m));
      Timing opt = time(3, 10, () -> AdamW.step(adapter, adam));
      double tokens = (double) batch * seq;
      // LoRA training: forward 2N and input-gradient 2N FLOPs per token (the base takes no
      // weight gradient), plus attention's QK and PV products, forward and backward.
      double attention =
          2.0 * 2 * c.numHiddenLayers() * (double) seq * c.numAttentionHeads() * c.headDim() * 2;
      double flopsPerToken = 4.0 * n + attention;
      double gflops = flopsPerToken * tokens / fb.seconds() / 1e9;
      System.out.printf(
          "forward_backward: %.0f tokens/s, %.1f GFLOP/s = %.0f%% of the matmul baseline (%.1f ms/batch)%n",
          tokens / fb.seconds(), gflops, 100 * gflops / matmul, fb.seconds() * 1e3);
      System.out.printf(
          "forward only:     %.0f tokens/s (%.1f ms/batch)%n",
          tokens / fwd.seconds(), fwd.seconds() * 1e3);
      System.out.printf(
          "optim_step:       %.1f ms (%d LoRA tensors, %.2fM parameters)%n",
          opt.seconds() * 1e3,
          adapter.parameters().size(),
          adapter.parameters().stream().mapToLong(p -> p.value().size()).sum() / 1e6);

      int prompt = 32;
      int newTokens = 32;
      int samples = 4;
      int[] promptTokens = examples.get(0).tokens();
      Sampler.Request req =
          new Sampler.Request(
              java.util.Arrays.copyOf(promptTokens, prompt),
              samples,
              newTokens,
              1,
              -1,
              1,
              7L,
              List.of(),
              null,
              false,
              0);
      Timing cached = time(1, 3, () -> Sampler.sample(base.llama(), adapter, req, m));
      Timing recompute =
          time(
              1,
              3,
              () ->
                  sampleWithoutCache(
                      base, adapter.hook(), promptTokens, prompt, newTokens, samples, m));
      double sampled = samples * newTokens;
      System.out.printf(
          "sampling (%d samples x %d tokens, prompt %d): KV cache %.0f tokens/s, full recompute %.0f tokens/s: %.1fx%n",
          samples,
          newTokens,
          prompt,
          sampled / cached.seconds(),
          sampled / recompute.seconds(),
          recompute.seconds() / cached.seconds());
      dora(base, m, examples, adam);
    }
  }

  /**
   * A training step (forward_backward + optim_step) of a DoRA adapter against a LoRA adapter's,
   * both rank 32 on every module, timed alike in the same run.
   */
  static void dora(
      BaseModel base, NDManager m, List<ForwardBackward.Example> examples, AdamW.Params adam) {
    double[] seconds = new double[2];
    for (boolean dora : new boolean[] {false, true}) {
      LoraSpec spec = LoraSpec.of(32, 0).withDora(dora);
      try (LoraAdapter adapter = LoraAdapter.create(base.llama(), spec, m, DataType.FLOAT32)) {
        seconds[dora ? 1 : 0] =
            time(
                    3,
                    10,
                    () -> {
                      ForwardBackward.run(
                          base.llama(), adapter, examples, LossFn.CROSS_ENTROPY, Map.of(), true, m);
                      AdamW.step(adapter, adam);
                    })
                .seconds();
      }
    }
    System.out.printf(
        "training step (forward_backward + optim_step): LoRA %.1f ms, DoRA %.1f ms = %.2fx%n",
        seconds[0] * 1e3, seconds[1] * 1e3, seconds[1] / seconds[0]);
  }

  /** Greedy decoding that recomputes the whole context each token: the no-cache baseline. */
  static Object sampleWithoutCache(
      BaseModel base,
      LoraHook lora,
      int[] source,
      int prompt,
      int newTokens,
      int samples,
      NDManager m) {
    long[][] ctx = new long[samples][prompt + newTokens];
    for (int r = 0; r < samples; r++) {
      for (int i = 0; i < prompt; i++) {
        ctx[r][i] = source[i];
      }
    }
    for (int t = prompt; t < prompt + newTokens; t++) {
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        long[][] now = new long[samples][t];
        for (int r = 0; r < samples; r++) {
          System.arraycopy(ctx[r], 0, now[r], 0, t);
        }
        NDArray logits = base.llama().forward(m.create(now), null, lora, null);
        NDArray next = logits.get(":, -1, :").argMax(-1);
        long[] ids = next.toLongArray();
        for (int r = 0; r < samples; r++) {
          ctx[r][t] = ids[r];
        }
      }
    }
    return ctx;
  }

  static double matmulGflops(NDManager m, int rows, int in, int out) {
    try (NDManager sub = m.newSubManager()) {
      NDArray a = sub.randomNormal(new Shape(rows, in));
      NDArray w = sub.randomNormal(new Shape(out, in));
      Timing t =
          time(
              3,
              20,
              () -> {
                try (NDScope s = new NDScope()) {
                  s.suppressNotUsedWarning();
                  a.matMul(w.transpose()).toType(DataType.FLOAT32, false).getFloat(0, 0);
                }
              });
      return 2.0 * rows * in * out / t.seconds() / 1e9;
    }
  }

  static List<ForwardBackward.Example> examples(int batch, int seq, int vocab) {
    Random rng = new Random(1);
    List<ForwardBackward.Example> out = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      int[] tokens = new int[seq];
      double[] targets = new double[seq];
      for (int i = 0; i < seq; i++) {
        tokens[i] = rng.nextInt(256);
        targets[i] = rng.nextInt(vocab);
      }
      out.add(new ForwardBackward.Example(tokens, Map.of("target_tokens", targets)));
    }
    return out;
  }

  record Timing(double seconds) {}

  /** Median seconds of {@code reps} runs after {@code warmup}. */
  static Timing time(int warmup, int reps, Runnable r) {
    for (int i = 0; i < warmup; i++) {
      r.run();
    }
    double[] t = new double[reps];
    for (int i = 0; i < reps; i++) {
      long s = System.nanoTime();
      r.run();
      t[i] = (System.nanoTime() - s) / 1e9;
    }
    java.util.Arrays.sort(t);
    return new Timing(t[reps / 2]);
  }
}
