package dev.lathe.worker.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.cache.AdapterCache;
import dev.lathe.worker.engine.ForwardBackward;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.optim.AdamW;
import dev.lathe.worker.sampling.DecodeBatch;
import dev.lathe.worker.sampling.Sampler;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Many tenants on one base model: forward_backward tokens/s for N tenants in one fused batch,
 * against one tenant alone and against the same tokens run tenant by tenant with an adapter swap
 * before each (one resident slot, the others in host memory), all in the same run. Also the time of
 * a resident hit and of a swap-in from host memory, and sampling from 8 adapters batched against
 * one after another, and a stream of sampling requests of mixed lengths decoded in static batches
 * against continuous batching.
 *
 * <pre>bench/multitenant.sh [tiny|bench|all] [examples per tenant] [seq] [max tenants]</pre>
 */
public final class MultiTenantBenchmark {

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    String which = args.length > 0 ? args[0] : "tiny";
    int perTenant = args.length > 1 ? Integer.parseInt(args[1]) : 2;
    int seq = args.length > 2 ? Integer.parseInt(args[2]) : 64;
    int maxTenants = args.length > 3 ? Integer.parseInt(args[3]) : 16;
    System.out.printf(
        "threads: %d, each tenant: %d examples x %d tokens, rank-16 adapter on every module (as bench/multitenant_http.py)%n",
        Runtime.getRuntime().availableProcessors(), perTenant, seq);
    EngineBenchmark.forEachModel(which, (base, m) -> run(base, m, perTenant, seq, maxTenants));
  }

  static void run(BaseModel base, NDManager m, int perTenant, int seq, int maxTenants)
      throws IOException {
    System.out.printf("%n== %s%n", base.name());
    List<LoraAdapter> adapters = new ArrayList<>();
    List<List<ForwardBackward.Example>> data = new ArrayList<>();
    for (int t = 0; t < maxTenants; t++) {
      adapters.add(LoraAdapter.create(base.config(), LoraSpec.of(16, t), m, DataType.FLOAT32));
      data.add(EngineBenchmark.examples(perTenant, seq, base.config().vocabSize()));
    }
    int reps = base.config().parameterCount() > 50_000_000 ? 3 : 15;
    // Warm the engine up (JIT, allocator, thread pools) before anything is timed.
    ForwardBackward.Job warm =
        new ForwardBackward.Job(adapters.get(0), data.get(0), LossFn.CROSS_ENTROPY, Map.of(), true);
    EngineBenchmark.time(2 * reps, 1, () -> ForwardBackward.run(base.llama(), List.of(warm), m));
    double single = 0;
    System.out.println(
        "tenants | fused tok/s | vs 1 tenant | tenant-by-tenant tok/s (swaps) | fused / tenant-by-tenant");
    for (int tenants = 1; tenants <= maxTenants; tenants *= 2) {
      int n = tenants;
      List<ForwardBackward.Job> jobs = new ArrayList<>();
      for (int t = 0; t < n; t++) {
        jobs.add(
            new ForwardBackward.Job(
                adapters.get(t), data.get(t), LossFn.CROSS_ENTROPY, Map.of(), true));
      }
      double tokens = (double) n * perTenant * seq;
      EngineBenchmark.Timing fused =
          EngineBenchmark.time(3, reps, () -> ForwardBackward.run(base.llama(), jobs, m));
      double fusedRate = tokens / fused.seconds();
      if (n == 1) {
        single = fusedRate;
      }
      double swappedRate;
      try (AdapterCache cache = cache(m, n)) {
        for (int t = 0; t < n; t++) {
          cache.put("t" + t, copy(adapters.get(t), m));
        }
        EngineBenchmark.Timing swapped =
            EngineBenchmark.time(
                3,
                reps,
                () -> {
                  for (int t = 0; t < n; t++) {
                    LoraAdapter a = get(cache, "t" + t);
                    ForwardBackward.run(
                        base.llama(), a, data.get(t), LossFn.CROSS_ENTROPY, Map.of(), true, m);
                  }
                });
        swappedRate = tokens / swapped.seconds();
      }
      System.out.printf(
          "%7d | %11.0f | %10.2fx | %30.0f | %.2fx%n",
          n, fusedRate, fusedRate / single, swappedRate, fusedRate / swappedRate);
    }
    sameDatums(base, adapters, perTenant * maxTenants, seq, m, reps);
    if (adapters.size() > 1) {
      swapTimes(adapters, m);
    }
    sampling(base, adapters.subList(0, Math.min(8, adapters.size())), m, reps);
    continuous(base, adapters.subList(0, Math.min(8, adapters.size())), m);
    adapters.forEach(LoraAdapter::close);
  }

  /**
   * Training steps of N tenants sharing {@code total} datums (each {@code total / N}) against one
   * tenant with all of them, as the HTTP benchmark compares them: the mean time of the fused
   * forward_backward, and of AdamW on every adapter: in one fused step (as the service runs it) and
   * one adapter at a time.
   */
  static void sameDatums(
      BaseModel base, List<LoraAdapter> adapters, int total, int seq, NDManager m, int reps) {
    List<ForwardBackward.Example> data =
        EngineBenchmark.examples(total, seq, base.config().vocabSize());
    AdamW.Params adam = new AdamW.Params(1e-4, 0.9, 0.95, 1e-8, 0, 0);
    System.out.printf(
        "%d datums a step shared by N tenants: tenants | fused ms | vs 1 | optimizer ms (all"
            + " adapters in one step) | vs 1 | optimizer ms (one adapter at a time)%n",
        total);
    double fused1 = 0;
    double opt1 = 0;
    List<AdamW.Params> params = java.util.Collections.nCopies(adapters.size(), adam);
    for (int n = 1; n <= Math.min(total, adapters.size()); n *= 2) {
      List<ForwardBackward.Job> jobs = new ArrayList<>();
      int each = total / n;
      for (int t = 0; t < n; t++) {
        jobs.add(
            new ForwardBackward.Job(
                adapters.get(t),
                data.subList(t * each, (t + 1) * each),
                LossFn.CROSS_ENTROPY,
                Map.of(),
                true));
      }
      List<LoraAdapter> used = adapters.subList(0, n);
      // Training steps as the service runs them: the fused batch, then one step of every adapter;
      // then the same gradients again (the last forward_backward's) stepped adapter by adapter.
      long[] nanos = new long[3];
      Runnable step =
          () -> {
            long t0 = System.nanoTime();
            ForwardBackward.run(base.llama(), jobs, m);
            long t1 = System.nanoTime();
            AdamW.step(used, params.subList(0, used.size()));
            long t2 = System.nanoTime();
            used.forEach(a -> AdamW.step(a, adam));
            nanos[0] += t1 - t0;
            nanos[1] += t2 - t1;
            nanos[2] += System.nanoTime() - t2;
          };
      for (int i = 0; i < 3; i++) {
        step.run();
      }
      java.util.Arrays.fill(nanos, 0);
      for (int i = 0; i < reps; i++) {
        step.run();
      }
      double fused = nanos[0] / 1e9 / reps; // mean seconds
      double opt = nanos[1] / 1e9 / reps;
      double apart = nanos[2] / 1e9 / reps;
      if (n == 1) {
        fused1 = fused;
        opt1 = opt;
      }
      System.out.printf(
          "%7d | %8.1f | %4.2fx | %8.1f | %4.2fx | %8.1f%n",
          n, fused * 1e3, fused / fused1, opt * 1e3, opt / opt1, apart * 1e3);
    }
  }

  /**
   * Sampling tokens/s for one request per adapter (different prompt lengths, 2 samples of 32 tokens
   * each) decoded as one batch, against the same requests one after another.
   */
  static void sampling(BaseModel base, List<LoraAdapter> adapters, NDManager m, int reps) {
    List<Sampler.Job> jobs = new ArrayList<>();
    for (int i = 0; i < adapters.size(); i++) {
      int[] prompt = new int[8 + 3 * i];
      for (int t = 0; t < prompt.length; t++) {
        prompt[t] = (t * 31 + i) % 256;
      }
      jobs.add(
          new Sampler.Job(
              adapters.get(i),
              new Sampler.Request(
                  prompt, 2, 32, 1.0, -1, 1.0, (long) i, List.of(), null, false, 0)));
    }
    double tokens = jobs.size() * 2 * 32;
    int r = Math.max(3, reps / 3);
    EngineBenchmark.Timing together =
        EngineBenchmark.time(1, r, () -> Sampler.sample(base.llama(), jobs, m));
    EngineBenchmark.Timing oneByOne =
        EngineBenchmark.time(
            1,
            r,
            () -> {
              for (Sampler.Job j : jobs) {
                Sampler.sample(base.llama(), j.adapter(), j.request(), m);
              }
            });
    System.out.printf(
        "sampling %d adapters (2 x 32 tokens each): batched %.0f tokens/s, one after another %.0f"
            + " tokens/s: %.2fx%n",
        jobs.size(),
        tokens / together.seconds(),
        tokens / oneByOne.seconds(),
        oneByOne.seconds() / together.seconds());
  }

  /**
   * 32 sampling requests on the adapters, all queued at once, of mixed lengths (one in four wants
   * 128 tokens, the others 8 to 32), at most 8 decoding at a time: static batches of 8 (each
   * decodes until its longest request ends) against continuous batching (a request joins as soon as
   * one leaves). Tokens/s and the mean time until a request's result, median of 3 runs each.
   */
  static void continuous(BaseModel base, List<LoraAdapter> adapters, NDManager m) {
    int rows = 8;
    int[] lengths = {128, 8, 16, 32};
    List<Sampler.Job> jobs = new ArrayList<>();
    long tokens = 0;
    for (int i = 0; i < 32; i++) {
      int[] prompt = new int[4 + (i * 7) % 13];
      for (int t = 0; t < prompt.length; t++) {
        prompt[t] = (t * 17 + i) % 256;
      }
      int max = lengths[i % lengths.length];
      tokens += max;
      jobs.add(
          new Sampler.Job(
              adapters.get(i % adapters.size()),
              new Sampler.Request(
                  prompt, 1, max, 1.0, -1, 1.0, (long) i, List.of(), null, false, 0)));
    }
    double[][] runs = new double[2][3]; // seconds of each run: [static, continuous][run]
    double[][] latency = new double[2][3]; // mean seconds until a request's result
    staticBatches(base, jobs, rows, m); // warm-up
    for (int run = 0; run < 3; run++) {
      for (int mode = 0; mode < 2; mode++) {
        long start = System.nanoTime();
        double[] finished =
            mode == 0 ? staticBatches(base, jobs, rows, m) : continuousBatch(base, jobs, rows, m);
        runs[mode][run] = (System.nanoTime() - start) / 1e9;
        latency[mode][run] =
            java.util.Arrays.stream(finished).map(f -> (f - start) / 1e9).average().orElseThrow();
      }
    }
    for (double[] r : runs) {
      java.util.Arrays.sort(r);
    }
    for (double[] l : latency) {
      java.util.Arrays.sort(l);
    }
    System.out.printf(
        "sampling stream (32 requests, %d tokens, <= %d decoding): static batches %.0f tokens/s,"
            + " mean latency %.2f s; continuous batching %.0f tokens/s (%.2fx), mean latency"
            + " %.2f s (%.2fx sooner)%n",
        tokens,
        rows,
        tokens / runs[0][1],
        latency[0][1],
        tokens / runs[1][1],
        runs[0][1] / runs[1][1],
        latency[1][1],
        latency[0][1] / latency[1][1]);
  }

  /** Decodes the jobs {@code rows} at a time; returns each one's finishing nanoTime. */
  private static double[] staticBatches(
      BaseModel base, List<Sampler.Job> jobs, int rows, NDManager m) {
    double[] finished = new double[jobs.size()];
    for (int from = 0; from < jobs.size(); from += rows) {
      int to = Math.min(from + rows, jobs.size());
      Sampler.sample(base.llama(), jobs.subList(from, to), m);
      java.util.Arrays.fill(finished, from, to, System.nanoTime());
    }
    return finished;
  }

  /** Decodes the jobs with at most {@code rows} at a time, refilling as soon as one ends. */
  private static double[] continuousBatch(
      BaseModel base, List<Sampler.Job> jobs, int rows, NDManager m) {
    double[] finished = new double[jobs.size()];
    try (DecodeBatch<Integer> batch = new DecodeBatch<>(base.llama(), m)) {
      int next = 0;
      while (next < jobs.size() || !batch.isEmpty()) {
        while (next < jobs.size() && batch.rows() < rows) {
          batch.admit(next, jobs.get(next));
          next++;
        }
        for (DecodeBatch.Finished<Integer> f : batch.step()) {
          finished[f.key()] = System.nanoTime();
        }
      }
    }
    return finished;
  }

  /** Median time of a resident hit and of a swap-in from host memory (with an eviction). */
  static void swapTimes(List<LoraAdapter> adapters, NDManager m) throws IOException {
    try (AdapterCache cache = cache(m, 2)) {
      cache.put("a", copy(adapters.get(0), m));
      cache.put("b", copy(adapters.get(1), m));
      EngineBenchmark.Timing hit = EngineBenchmark.time(10, 101, () -> get(cache, "b"));
      // Each get swaps one in from host memory and the other out to it.
      int[] i = {0};
      EngineBenchmark.Timing miss =
          EngineBenchmark.time(2, 21, () -> get(cache, (i[0]++ % 2 == 0) ? "a" : "b"));
      long bytes = adapters.get(0).parameters().stream().mapToLong(p -> p.value().size()).sum() * 4;
      System.out.printf(
          "adapter swap: resident hit %.1f µs; swap-in from host memory (evicting one) %.2f ms"
              + " for %.1f MB of weights, moments and gradients%n",
          hit.seconds() * 1e6, miss.seconds() * 1e3, 4 * bytes / 1e6);
    }
  }

  private static AdapterCache cache(NDManager m, int hostSlots) {
    return new AdapterCache(
        1,
        hostSlots,
        m,
        DataType.FLOAT32,
        new AdapterCache.Disk() {
          @Override
          public void spill(String id, LoraAdapter.Host adapter) {
            throw new IllegalStateException("the benchmark keeps every adapter in memory");
          }

          @Override
          public LoraAdapter restore(String id) {
            return null;
          }
        });
  }

  private static LoraAdapter copy(LoraAdapter a, NDManager m) {
    return LoraAdapter.fromHost(a.toHost(), m, DataType.FLOAT32);
  }

  private static LoraAdapter get(AdapterCache cache, String id) {
    try {
      return cache.get(id);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
