package dev.lathe.worker.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.lora.LoraAdapter;
import dev.lathe.worker.lora.LoraSpec;
import dev.lathe.worker.loss.LossFn;
import dev.lathe.worker.model.BaseModel;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Gradients do not depend on when the garbage collector runs. They did: a scalar multiplied in
 * through DJL's {@code mul(Number)} lived in a Java buffer that autograd still read during the
 * backward pass after the collector had freed it (see {@link Scalars}); DoRA's norm had two such
 * scalars (its 2·s and its floor), which garbled the gradients of the first layers now and then.
 * Checked for a LoRA adapter on its own hook, a DoRA one, and both in one gathered batch.
 */
class GcPressureTest {

  @ParameterizedTest
  @ValueSource(strings = {"lora", "dora", "gathered"})
  void gradientsAreTheSameWhileTheCollectorRunsConstantly(String kind) throws Exception {
    var example =
        new ForwardBackward.Example(
            new int[] {5, 6, 7, 8, 9, 10, 11, 12},
            Map.of("target_tokens", new double[] {6, 7, 8, 9, 10, 11, 12, 13}));
    try (NDManager m = NDManager.newBaseManager();
        BaseModel base = TinyModel.load(m, DataType.FLOAT32);
        LoraAdapter lora =
            LoraAdapter.create(base.config(), LoraSpec.of(8, 7), m, DataType.FLOAT32);
        LoraAdapter dora =
            LoraAdapter.create(
                base.llama(), LoraSpec.of(8, 8).withDora(true), m, DataType.FLOAT32)) {
      for (LoraAdapter a : List.of(lora, dora)) {
        for (LoraAdapter.Pair p : a.pairs().values()) {
          p.b().addi(0.01f); // B ≠ 0, so every LoRA tensor gets a gradient
        }
      }
      List<LoraAdapter> adapters =
          switch (kind) {
            case "lora" -> List.of(lora);
            case "dora" -> List.of(dora);
            default -> List.of(lora, dora);
          };
      List<float[]> quiet = gradients(base, adapters, example, m);

      Thread collector =
          Thread.ofPlatform()
              .daemon()
              .start(
                  () -> {
                    while (!Thread.currentThread().isInterrupted()) {
                      System.gc();
                    }
                  });
      try {
        for (int i = 0; i < 2; i++) {
          List<float[]> busy = gradients(base, adapters, example, m);
          for (int t = 0; t < quiet.size(); t++) {
            assertThat(busy.get(t)).as("run %d, tensor %d", i, t).containsExactly(quiet.get(t));
          }
        }
      } finally {
        collector.interrupt();
        collector.join();
      }
    }
  }

  /** Every adapter's gradients after one fused forward_backward of the example on each. */
  private static List<float[]> gradients(
      BaseModel base, List<LoraAdapter> adapters, ForwardBackward.Example example, NDManager m) {
    adapters.forEach(LoraAdapter::zeroGradients);
    ForwardBackward.run(
        base.llama(),
        adapters.stream()
            .map(
                a ->
                    new ForwardBackward.Job(
                        a, List.of(example), LossFn.CROSS_ENTROPY, Map.of(), true))
            .toList(),
        m);
    return adapters.stream()
        .flatMap(
            a ->
                a.parameters().stream()
                    .map(
                        p -> {
                          NDArray g = a.gradient(p);
                          float[] v = g.toFloatArray();
                          g.close();
                          return v;
                        }))
        .toList();
  }
}
