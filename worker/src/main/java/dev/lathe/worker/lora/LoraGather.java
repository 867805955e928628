package dev.lathe.worker.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.model.llama.Module;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A different adapter on each row of a batch with the same few operations per linear however many
 * adapters there are: every adapter's Aᵀ and (s·B)ᵀ are stacked once, zero-padded to the largest
 * rank (entry 0 is all zeros, for rows on the base model), and each step every row gathers its own
 * and runs one batched matmul pair. Segment matmuls ({@link LoraRows}) cost a matmul pair per
 * adapter per linear, which dominates a decode step of many adapters and one token per row. For
 * inference: the stacks are copies, so no gradient reaches the adapters.
 */
public final class LoraGather implements LoraHook, AutoCloseable {

  private final NDManager manager;
  private final Map<String, NDArray[]>
      stacks; // layer/module → {Aᵀ [U+1, in, R], (s·B)ᵀ [U+1, R, out]}
  private final NDArray index; // [rows] each row's entry in the stacks

  private LoraGather(NDManager manager, Map<String, NDArray[]> stacks, NDArray index) {
    this.manager = manager;
    this.stacks = stacks;
    this.index = index;
  }

  /**
   * The hook for a batch whose row r uses {@code rows.get(r)} (null: the base model). Close it when
   * the batch's rows change.
   */
  public static LoraGather of(List<LoraAdapter> rows, NDManager parent) {
    NDManager m = parent.newSubManager();
    Map<LoraAdapter, Integer> entry = new IdentityHashMap<>();
    List<LoraAdapter> adapters = new ArrayList<>();
    long[] index = new long[rows.size()];
    for (int r = 0; r < rows.size(); r++) {
      LoraAdapter a = rows.get(r);
      if (a != null) {
        index[r] =
            entry.computeIfAbsent(
                a,
                k -> {
                  adapters.add(k);
                  return adapters.size();
                });
      }
    }
    int rank = adapters.stream().mapToInt(LoraAdapter::rank).max().orElse(0);
    Map<String, Map<LoraAdapter, LoraAdapter.Pair>> byLinear = new HashMap<>();
    for (LoraAdapter a : adapters) {
      for (LoraAdapter.Pair p : a.pairs().values()) {
        byLinear
            .computeIfAbsent(key(p.layer(), p.module()), k -> new IdentityHashMap<>())
            .put(a, p);
      }
    }
    Map<String, NDArray[]> stacks = new HashMap<>();
    for (var e : byLinear.entrySet()) {
      LoraAdapter.Pair any = e.getValue().values().iterator().next();
      long in = any.a().getShape().get(1);
      long out = any.b().getShape().get(0);
      DataType dtype = any.a().getDataType();
      try (NDScope scope = new NDScope()) { // closes every intermediate array
        scope.suppressNotUsedWarning();
        NDList aT = new NDList(m.zeros(new Shape(in, rank), dtype)); // entry 0: the base model
        NDList bT = new NDList(m.zeros(new Shape(rank, out), dtype));
        for (LoraAdapter a : adapters) {
          LoraAdapter.Pair p = e.getValue().get(a);
          if (p == null) {
            aT.add(m.zeros(new Shape(in, rank), dtype));
            bT.add(m.zeros(new Shape(rank, out), dtype));
            continue;
          }
          NDArray at = p.a().transpose(); // [in, r]
          NDArray bt = p.b().mul(a.spec().scaling()).transpose(); // [r, out]
          int pad = rank - a.rank();
          aT.add(pad == 0 ? at : at.concat(m.zeros(new Shape(in, pad), dtype), 1)); // [in, R]
          bT.add(pad == 0 ? bt : bt.concat(m.zeros(new Shape(pad, out), dtype), 0)); // [R, out]
        }
        NDArray[] pair = {NDArrays.stack(aT), NDArrays.stack(bT)}; // [U+1, in, R], [U+1, R, out]
        NDScope.unregister(pair); // they live as long as this hook
        pair[0].attach(m);
        pair[1].attach(m);
        stacks.put(e.getKey(), pair);
      }
    }
    NDArray rowIndex = m.create(index);
    NDScope.unregister(rowIndex);
    return new LoraGather(m, stacks, rowIndex);
  }

  private static String key(int layer, Module module) {
    return layer + "/" + module;
  }

  @Override
  public NDArray apply(int layer, Module module, NDArray x, NDArray y) {
    NDArray[] s = stacks.get(key(layer, module));
    if (s == null) {
      return y;
    }
    NDArray a = s[0].get(index); // [B, in, R]
    NDArray b = s[1].get(index); // [B, R, out]
    return y.add(x.matMul(a).matMul(b)); // [B, T, in]·[B, in, R]·[B, R, out] → [B, T, out]
  }

  @Override
  public void close() {
    manager.close();
  }
}
