package dev.lathe.worker.lora;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.optim.AdamW;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What a training step does to an adapter leaves nothing behind in its memory: the step itself, its
 * gradient read and reset, and the copy a snapshot is written from (once leaked three flat buffers
 * a step, about 1 MB a step on lathe-tiny, found by bench/soak.py).
 */
class AdapterMemoryTest extends WithTinyModel {

  @Test
  void stepsAndSnapshotCopiesKeepTheAdaptersArraysAsTheyWere() {
    try (LoraAdapter a =
        LoraAdapter.create(base.config(), LoraSpec.of(8, 1), manager, DataType.FLOAT32)) {
      AdamW.Params adam = new AdamW.Params(1e-3, 0.9, 0.95, 1e-8, 0.01, 1.0);
      cycle(a, adam); // first use creates the moments and the gradients
      int adapterArrays = a.manager().getManagedArrays().size();
      int baseArrays = manager.getManagedArrays().size();
      for (int i = 0; i < 20; i++) {
        cycle(a, adam);
      }
      assertThat(a.manager().getManagedArrays()).hasSize(adapterArrays);
      assertThat(manager.getManagedArrays()).hasSize(baseArrays);
      assertThat(a.step()).isEqualTo(21);
    }
  }

  private static void cycle(LoraAdapter a, AdamW.Params adam) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      Map<String, NDArray> grads = new HashMap<>();
      for (LoraAdapter.Param p : a.parameters()) {
        grads.put(p.name(), p.value().onesLike().mul(1e-3));
      }
      a.addGradients(grads);
    }
    AdamW.step(a, adam);
    try (LoraAdapter.Frozen frozen = a.freeze(manager)) {
      assertThat(frozen.flat().getManager()).isSameAs(frozen.manager());
    }
  }
}
