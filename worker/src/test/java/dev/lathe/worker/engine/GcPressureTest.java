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
import org.junit.jupiter.api.Test;

/**
 * Gradients do not depend on when the garbage collector runs. They did: a scalar multiplied in
 * through DJL's {@code mul(Number)} lived in a Java buffer that autograd still read during the
 * backward pass after the collector had freed it (see {@link Scalars}).
 */
class GcPressureTest {

  @Test
  void gradientsAreTheSameWhileTheCollectorRunsConstantly() throws Exception {
    var example =
        new ForwardBackward.Example(
            new int[] {5, 6, 7, 8, 9, 10, 11, 12},
            Map.of("target_tokens", new double[] {6, 7, 8, 9, 10, 11, 12, 13}));
    try (NDManager m = NDManager.newBaseManager();
        BaseModel base = TinyModel.load(m, DataType.FLOAT32);
        LoraAdapter adapter =
            LoraAdapter.create(base.config(), LoraSpec.of(8, 7), m, DataType.FLOAT32)) {
      for (LoraAdapter.Pair p : adapter.pairs().values()) {
        p.b().addi(0.01f); // B ≠ 0, so every LoRA tensor gets a gradient
      }
      List<float[]> quiet = gradients(base, adapter, example, m);

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
        for (int i = 0; i < 3; i++) {
          List<float[]> busy = gradients(base, adapter, example, m);
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

  private static List<float[]> gradients(
      BaseModel base, LoraAdapter adapter, ForwardBackward.Example example, NDManager m) {
    adapter.zeroGradients();
    ForwardBackward.run(
        base.llama(), adapter, List.of(example), LossFn.CROSS_ENTROPY, Map.of(), true, m);
    return adapter.parameters().stream()
        .map(
            p -> {
              NDArray g = adapter.gradient(p);
              float[] v = g.toFloatArray();
              g.close();
              return v;
            })
        .toList();
  }
}
