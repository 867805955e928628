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
import java.util.Optional;

/**
 * A different adapter on each row of a batch, with the same few operations per linear however many
 * adapters the batch holds: the adapters' A and B are stacked (zero-padded to the largest rank),
 * each row gathers its own, and one batched matmul pair and a per-row scale give every row its
 * delta. Applying each adapter to its own rows instead costs a matmul pair and slicing per adapter
 * per linear, in the forward and again in the backward, which dominates a small batch of many
 * tenants.
 *
 * <p>A linear's stacks are built when it is first applied, in the gradient mode of that moment:
 * built while recording (a fused forward_backward), the gradient flows back through them to each
 * adapter's own A and B, from its own rows only; built for decoding, they are reused by every step
 * until the batch's rows change.
 */
public final class LoraGather implements LoraHook, AutoCloseable {

  private final NDManager manager; // the stacks, index and scales
  private final List<LoraAdapter> adapters; // distinct, in order of first row
  private final boolean baseRows; // some rows use no adapter: stack entry U is all zeros
  private final int rank; // the largest rank
  private final NDArray index; // [B] each row's stack entry
  private final NDArray scale; // [B, 1, 1] each row's adapter scaling s
  private final Map<String, Optional<NDArray[]>> stacks = new HashMap<>();

  private LoraGather(
      NDManager manager,
      List<LoraAdapter> adapters,
      boolean baseRows,
      NDArray index,
      NDArray scale) {
    this.manager = manager;
    this.adapters = adapters;
    this.baseRows = baseRows;
    this.rank = adapters.stream().mapToInt(LoraAdapter::rank).max().orElse(0);
    this.index = index;
    this.scale = scale;
  }

  /**
   * The hook for a batch whose row r uses {@code rows.get(r)} (null: the base model): that
   * adapter's own when every row uses the same one (or none), else a {@link LoraGather} (close it
   * when the batch is done with; it is also closed with {@code parent}).
   */
  public static LoraHook forRows(List<LoraAdapter> rows, DataType dtype, NDManager parent) {
    LoraAdapter first = rows.getFirst();
    if (rows.stream().allMatch(a -> a == first)) {
      return first == null ? LoraHook.NONE : first.hook();
    }
    return of(rows, dtype, parent);
  }

  /** A gathering hook for a batch whose row r uses {@code rows.get(r)} (null: the base model). */
  public static LoraGather of(List<LoraAdapter> rows, DataType dtype, NDManager parent) {
    NDManager m = parent.newSubManager();
    Map<LoraAdapter, Integer> entry = new IdentityHashMap<>();
    List<LoraAdapter> adapters = new ArrayList<>();
    for (LoraAdapter a : rows) {
      if (a != null && !entry.containsKey(a)) {
        entry.put(a, adapters.size());
        adapters.add(a);
      }
    }
    long[] index = new long[rows.size()];
    float[] scale = new float[rows.size()];
    boolean baseRows = false;
    for (int r = 0; r < rows.size(); r++) {
      LoraAdapter a = rows.get(r);
      baseRows |= a == null;
      index[r] = a == null ? adapters.size() : entry.get(a);
      scale[r] = a == null ? 0 : (float) a.spec().scaling();
    }
    NDArray rowIndex = m.create(index);
    NDArray rowScale = m.create(scale, new Shape(rows.size(), 1, 1)).toType(dtype, false);
    NDScope.unregister(rowIndex, rowScale);
    return new LoraGather(m, adapters, baseRows, rowIndex, rowScale);
  }

  @Override
  public NDArray apply(int layer, Module module, NDArray x, NDArray y) {
    Optional<NDArray[]> s =
        stacks.computeIfAbsent(layer + "/" + module, k -> stack(layer, module, x.getDataType()));
    if (s.isEmpty()) {
      return y;
    }
    NDArray a = s.get()[0].get(index).transpose(0, 2, 1); // [B, in, R]
    NDArray b = s.get()[1].get(index).transpose(0, 2, 1); // [B, R, out]
    return y.add(x.matMul(a).matMul(b).mul(scale)); // [B, T, in]·[B, in, R]·[B, R, out]·[B, 1, 1]
  }

  /**
   * Every adapter's A [U(+1), R, in] and B [U(+1), out, R] for one linear, padded to rank R (and a
   * zero entry for base rows); empty if no adapter adapts it.
   */
  private Optional<NDArray[]> stack(int layer, Module module, DataType dtype) {
    List<LoraAdapter.Pair> pairs = new ArrayList<>();
    LoraAdapter.Pair any = null;
    for (LoraAdapter a : adapters) {
      LoraAdapter.Pair p = a.pair(layer, module);
      pairs.add(p);
      any = any == null ? p : any;
    }
    if (any == null) {
      return Optional.empty();
    }
    long in = any.a().getShape().get(1);
    long out = any.b().getShape().get(0);
    NDList as = new NDList();
    NDList bs = new NDList();
    for (LoraAdapter.Pair p : pairs) {
      long r = p == null ? 0 : p.a().getShape().get(0);
      as.add(padded(p == null ? null : p.a(), new Shape(rank - r, in), 0, dtype));
      bs.add(padded(p == null ? null : p.b(), new Shape(out, rank - r), 1, dtype));
    }
    if (baseRows) {
      as.add(manager.zeros(new Shape(rank, in), dtype));
      bs.add(manager.zeros(new Shape(out, rank), dtype));
    }
    NDArray[] pair = {NDArrays.stack(as), NDArrays.stack(bs)};
    // Kept (and closed) with this hook; while recording, still part of the graph.
    NDScope.unregister(pair);
    for (NDArray p : pair) {
      p.attach(manager);
    }
    return Optional.of(pair);
  }

  /** {@code x} with {@code pad} zeros appended along {@code axis}; all zeros if x is null. */
  private NDArray padded(NDArray x, Shape pad, int axis, DataType dtype) {
    if (pad.get(axis) == 0) {
      return x;
    }
    NDArray zeros = manager.zeros(pad, dtype);
    return x == null ? zeros : x.concat(zeros, axis);
  }

  @Override
  public void close() {
    manager.close();
  }
}
