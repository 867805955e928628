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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Gathered adapters add to each row exactly what that row's own adapter adds (and scale it, for
 * DoRA, by that adapter's own scales).
 */
class LoraGatherTest extends WithTinyModel {

  /**
   * Rows given as adapter indexes (-1: the base model). Mixed: ranks 4, 8, 16 and 8; one adapter
   * only on attention, one with rsLoRA scaling, one DoRA. One layout: the same rank and modules,
   * scalings differ (their linears are stacked from their flat buffers at once). Rows in equal
   * groups in adapter order take one batched matmul pair per linear; others pick per row.
   */
  @ParameterizedTest
  @CsvSource({
    "mixed, -1 0 2 1 3 0 -1 2 3, 0, false",
    "mixed, 0 0 1 1 2 2 3 3, 2, false",
    "one-layout, -1 0 2 1 3 0 -1 2 3, 0, true",
    "one-layout, 0 1 2 3, 1, true",
    "one-layout-dora, 0 0 1 1 2 2, 2, true",
    "one-layout-dora, 2 0 1 0, 0, true"
  })
  void eachRowGetsItsOwnAdaptersDelta(String set, String rowIndexes, int group, boolean oneLayout) {
    List<LoraAdapter> adapters = adapters(set);
    List<LoraAdapter> rows = new ArrayList<>();
    for (String i : rowIndexes.split(" ")) {
      int index = Integer.parseInt(i);
      rows.add(index < 0 ? null : adapters.get(index));
    }
    try (LoraGather gather = LoraGather.of(rows, DataType.FLOAT32, manager);
        NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      assertThat(gather.group()).isEqualTo(group);
      assertThat(gather.oneLayout()).isEqualTo(oneLayout);
      int checked = 0;
      int adapted = 0;
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
          NDArray want = d == null ? y.get(row) : y.get(row).add(d);
          LoraAdapter.Pair p = a == null ? null : a.pair(layer, module);
          if (p != null && p.magnitude() != null) {
            want = want.mul(a.doraScale(p, w));
          }
          float[] expected = want.toFloatArray();
          int per = expected.length;
          float[] mine = Arrays.copyOfRange(got, r * per, (r + 1) * per);
          for (int i = 0; i < per; i++) {
            assertThat(mine[i])
                .as("%s row %d", module, r)
                .isCloseTo(expected[i], within(expected[i]));
          }
          checked += d == null ? 0 : 1;
          adapted += a != null && a.spec().adapts(module) ? 1 : 0;
        }
      }
      // Every adapted row of every module was compared.
      assertThat(checked).isEqualTo(adapted).isPositive();
    } finally {
      adapters.forEach(LoraAdapter::close);
    }
  }

  private static List<LoraAdapter> adapters(String set) {
    return switch (set) {
      case "mixed" ->
          List.of(
              adapter(
                  new LoraSpec(4, 32, 1, LoraSpec.targets(true, false, false), false, 1, false)),
              adapter(new LoraSpec(8, 16, 2, LoraSpec.targets(true, true, true), true, 1, false)),
              adapter(LoraSpec.of(16, 3)),
              adapter(LoraSpec.of(8, 4).withDora(true)));
      case "one-layout" ->
          List.of(
              adapter(new LoraSpec(8, 16, 1, LoraSpec.targets(true, true, true), false, 1, false)),
              adapter(new LoraSpec(8, 32, 2, LoraSpec.targets(true, true, true), true, 1, false)),
              adapter(new LoraSpec(8, 8, 3, LoraSpec.targets(true, true, true), false, 1, false)),
              adapter(new LoraSpec(8, 16, 4, LoraSpec.targets(true, true, true), false, 1, false)));
      case "one-layout-dora" ->
          List.of(
              adapter(new LoraSpec(8, 16, 5, LoraSpec.targets(true, true, false), false, 1, true)),
              adapter(new LoraSpec(8, 32, 6, LoraSpec.targets(true, true, false), true, 1, true)),
              adapter(new LoraSpec(8, 16, 7, LoraSpec.targets(true, true, false), false, 1, true)));
      default -> throw new IllegalArgumentException(set);
    };
  }

  private static org.assertj.core.data.Offset<Float> within(float value) {
    return org.assertj.core.data.Offset.offset(1e-5f * Math.max(1, Math.abs(value)));
  }

  /** An adapter whose B is random, so that its delta is not zero. */
  private static LoraAdapter adapter(LoraSpec spec) {
    LoraAdapter a = LoraAdapter.create(base.llama(), spec, manager, DataType.FLOAT32);
    for (LoraAdapter.Pair p : a.pairs().values()) {
      // In place: the tensors are views of the adapter's flat buffer.
      p.b().addi(manager.randomNormal(p.b().getShape()).mul(0.1));
      if (p.magnitude() != null) {
        p.magnitude().muli(1.5);
      }
    }
    return a;
  }
}
