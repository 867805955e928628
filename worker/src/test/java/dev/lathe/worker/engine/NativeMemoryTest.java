package dev.lathe.worker.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import dev.lathe.worker.optim.AdamW;
import dev.lathe.worker.sampling.DecodeBatch;
import dev.lathe.worker.sampling.Sampler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every step releases its native arrays: 1,000 training steps (with a sampling call every 100)
 * leave the process's native resident memory where warm-up left it.
 */
class NativeMemoryTest {

  @Test
  void aThousandStepsKeepResidentMemoryFlat() throws IOException {
    var example =
        new ForwardBackward.Example(
            new int[] {5, 6, 7, 8, 9, 10, 11, 12},
            Map.of("target_tokens", new double[] {6, 7, 8, 9, 10, 11, 12, 13}));
    var sample =
        new Sampler.Request(new int[] {1, 2, 3}, 2, 8, 1, -1, 1, 1L, List.of(), null, true, 2);
    try (NDManager m = NDManager.newBaseManager();
        BaseModel base = TinyModel.load(m, DataType.FLOAT32);
        LoraAdapter adapter =
            LoraAdapter.create(base.config(), LoraSpec.of(8, 0), m, DataType.FLOAT32)) {
      AdamW.Params adam = new AdamW.Params(1e-3, 0.9, 0.95, 1e-8, 0.01, 1.0);
      long warm = 0;
      for (int step = 1; step <= 1000; step++) {
        ForwardBackward.run(
            base.llama(), adapter, List.of(example), LossFn.CROSS_ENTROPY, Map.of(), true, m);
        AdamW.step(adapter, adam);
        if (step % 100 == 0) {
          Sampler.sample(base.llama(), adapter, sample, m);
        }
        if (step == 200) {
          warm = residentBytes();
        }
      }
      long end = residentBytes();
      // With the heap fixed, RSS after warm-up holds within a few MB; a leak of even one
      // activation per step (hundreds of KB) would add hundreds of MB over 800 steps.
      assertThat(end - warm)
          .as("RSS after warm-up %d, after 1000 steps %d", warm, end)
          .isLessThan(32L << 20);
    }
  }

  /**
   * Continuous batching rebuilds the KV cache and the gathered adapters at every join and leave:
   * 2,000 decode steps with requests of three adapters and the base model coming and going leave
   * native memory where warm-up left it.
   */
  @Test
  void requestsJoiningAndLeavingADecodeBatchKeepResidentMemoryFlat() throws IOException {
    try (NDManager m = NDManager.newBaseManager();
        BaseModel base = TinyModel.load(m, DataType.FLOAT32);
        DecodeBatch<Integer> batch = new DecodeBatch<>(base.llama(), m)) {
      List<LoraAdapter> adapters = new ArrayList<>();
      adapters.add(null);
      for (int i = 0; i < 3; i++) {
        adapters.add(
            LoraAdapter.create(base.config(), LoraSpec.of(4 << i, i), m, DataType.FLOAT32));
      }
      long warm = 0;
      int joined = 0;
      for (int step = 1; step <= 2000; step++) {
        if (step % 3 == 0 && batch.rows() < 8) {
          int[] prompt = new int[2 + joined % 9];
          Arrays.fill(prompt, 7 + joined % 50);
          batch.admit(
              joined,
              new Sampler.Job(
                  adapters.get(joined % adapters.size()),
                  new Sampler.Request(
                      prompt,
                      1 + joined % 2,
                      4 + joined % 17,
                      1,
                      -1,
                      1,
                      (long) joined,
                      List.of(),
                      null,
                      false,
                      0)));
          joined++;
        }
        batch.step();
        if (step == 800) {
          warm = residentBytes();
        }
      }
      long end = residentBytes();
      assertThat(joined).isGreaterThan(600);
      assertThat(end - warm)
          .as("RSS after warm-up %d, after 2000 steps %d", warm, end)
          .isLessThan(32L << 20);
      adapters.stream().filter(a -> a != null).forEach(LoraAdapter::close);
    }
  }

  /**
   * The process's resident memory. The worker tests' JVM has a fixed, pre-touched heap (see the
   * worker pom), so what moves here is native memory.
   */
  private static long residentBytes() throws IOException {
    System.gc();
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("\\D+", "")) * 1024;
      }
    }
    throw new IllegalStateException("no VmRSS in /proc/self/status");
  }
}
