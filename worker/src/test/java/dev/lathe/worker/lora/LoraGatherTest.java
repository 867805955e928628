package dev.lathe.worker.lora;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.model.llama.Module;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Gathered adapters add to each row exactly what that row's own adapter adds (and scale it, for
 * DoRA, by that adapter's own scales).
 */
class LoraGatherTest extends WithTinyModel {

  @Test
  void eachRowGetsItsOwnAdaptersDelta() {
    // Ranks 4, 8, 16 and 8; one adapter only on attention, one with rsLoRA scaling, one DoRA; B
    // (and DoRA's m) moved off their start.
    List<LoraAdapter> adapters =
        List.of(
            adapter(new LoraSpec(4, 32, 1, LoraSpec.targets(true, false, false), false, 1, false)),
            adapter(new LoraSpec(8, 16, 2, LoraSpec.targets(true, true, true), true, 1, false)),
            adapter(LoraSpec.of(16, 3)),
            adapter(LoraSpec.of(8, 4).withDora(true)));
    // Rows: base, a0, a2, a1, a3, a0, base, a2, a3 — repeated and interleaved.
    List<LoraAdapter> rows = new ArrayList<>();
    for (int i : new int[] {-1, 0, 2, 1, 3, 0, -1, 2, 3}) {
      rows.add(i < 0 ? null : adapters.get(i));
    }
    try (LoraGather gather = LoraGather.of(rows, DataType.FLOAT32, manager);
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      int checked = 0;
      for (Module module : Module.values()) {
        int layer = module == Module.LM_HEAD ? -1 : 1;
        int[] io = module.inOut(base.config());
        NDArray x = manager.randomNormal(new Shape(rows.size(), 3, io[0])); // [B, T, in]
        NDArray y = manager.randomNormal(new Shape(rows.size(), 3, io[1])); // [B, T, out]
        NDArray w = base.llama().weights().weight(layer, module);
        float[] got = gather.apply(layer, module, x, w, y).toFloatArray();
        for (int r = 0; r < rows.size(); r++) {
          NDIndex row = new NDIndex("{}:{}", r, r + 1);
          LoraAdapter a = rows.get(r);
          NDArray d = a == null ? null : a.delta(layer, module, x.get(row));
          NDArray adapted = d == null ? y.get(row) : y.get(row).add(d);
          LoraAdapter.Pair p = a == null ? null : a.pair(layer, module);
          if (p != null && p.magnitude() != null) {
            adapted = adapted.mul(a.doraScale(p, w));
          }
          float[] want = adapted.toFloatArray();
          int per = want.length;
          float[] mine = Arrays.copyOfRange(got, r * per, (r + 1) * per);
          for (int i = 0; i < per; i++) {
            assertThat(mine[i]).as("%s row %d", module, r).isCloseTo(want[i], within(want[i]));
          }
          checked += d == null ? 0 : 1;
        }
      }
      // Every adapted row of every module was compared, and the first adapter skips the MLP.
      assertThat(checked).isEqualTo(Module.values().length * 7 - 4 * 2);
    } finally {
      adapters.forEach(LoraAdapter::close);
    }
  }

  private static org.assertj.core.data.Offset<Float> within(float value) {
    return org.assertj.core.data.Offset.offset(1e-5f * Math.max(1, Math.abs(value)));
  }

  /** An adapter whose B is random, so that its delta is not zero. */
  private static LoraAdapter adapter(LoraSpec spec) {
    LoraAdapter a = LoraAdapter.create(base.llama(), spec, manager, DataType.FLOAT32);
    for (LoraAdapter.Pair p : a.pairs().values()) {
      p.b().set(manager.randomNormal(p.b().getShape()).mul(0.1).toFloatArray());
      if (p.magnitude() != null) {
        p.magnitude().set(p.magnitude().mul(1.5).toFloatArray());
      }
    }
    return a;
  }
}
