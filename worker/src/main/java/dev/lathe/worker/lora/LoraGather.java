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
 * adapters the batch holds. Applying each adapter to its own rows instead costs a matmul pair and
 * slicing per adapter per linear, in the forward and again in the backward, which dominates a small
 * batch of many tenants.
 *
 * <p>The adapters' A and B are stacked per linear [U, R, in] and [U, out, R] (zero-padded to the
 * largest rank). Adapters of one layout (the same rank and modules: the usual case) are stacked
 * once per pass, their flat buffers [U, P], and every linear's stacks are views of that. When the
 * rows come as U equal groups, one per adapter in order (each tenant sent as many datums), one
 * batched matmul pair over [U, rows·T, in] gives every row its delta; otherwise each row picks its
 * own A and scaled B (a matmul with one-hot rows, whose backward is a matmul too where a gather's
 * would scatter-add into the stack row by row) for a batched matmul pair per row.
 *
 * <p>DoRA adapters sit in the same stacks; their rows' outputs are then scaled per output by that
 * adapter's m / ‖W + s·B·A‖ (picked like the rest; 1 for the other rows).
 *
 * <p>A linear's stacks are built when it is first applied, in the gradient mode of that moment:
 * built while recording (a fused forward_backward), the gradient flows back through them to each
 * adapter's own A and B, from its own rows only; built for decoding, they are reused by every step
 * until the batch's rows change (DoRA's scales too: they depend on the weights alone).
 */
public final class LoraGather implements LoraHook, AutoCloseable {

  private final NDManager manager; // the stacks, index and scales
  private final List<LoraAdapter> adapters; // distinct, in order of first row
  private final int rank; // the largest rank
  private final NDArray select; // [B, U] one-hot: row r's adapter (no 1 in a base-model row)
  private final NDArray selectScaled; // [B, U] the same, times that adapter's scaling s
  private final NDArray scaling; // [U, 1] each adapter's s
  private final NDArray scalingRows; // [U, 1, 1] the same
  private final int group; // rows per adapter when the rows are U such groups in order, else 0
  private final boolean oneLayout; // every adapter lays out its parameters alike
  private Map<String, LoraAdapter.Pair> stacked; // their linears stacked, for this pass
  private final Map<String, Optional<NDArray[]>> stacks = new HashMap<>();
  // Each adapter's tensors as its first stack took them (LoraAdapter.forPass): in a recorded pass,
  // views split off its flat buffer once for all of its linears.
  private final Map<LoraAdapter, Map<String, LoraAdapter.Pair>> passes = new IdentityHashMap<>();

  private LoraGather(
      NDManager manager,
      List<LoraAdapter> adapters,
      NDArray select,
      NDArray selectScaled,
      NDArray scaling,
      int group) {
    this.manager = manager;
    this.adapters = adapters;
    this.rank = adapters.stream().mapToInt(LoraAdapter::rank).max().orElse(0);
    this.select = select;
    this.selectScaled = selectScaled;
    this.scaling = scaling;
    this.scalingRows = keep(scaling.expandDims(2))[0];
    this.group = group;
    this.oneLayout = adapters.stream().allMatch(a -> a.sameLayout(adapters.getFirst()));
  }

  /**
   * The hook for one forward pass of a batch whose row r uses {@code rows.get(r)} (null: the base
   * model): that adapter's own when every row uses the same one (or none), else a {@link
   * LoraGather} (close it when the batch is done with; it is also closed with {@code parent}).
   */
  public static LoraHook forRows(List<LoraAdapter> rows, DataType dtype, NDManager parent) {
    LoraAdapter first = rows.getFirst();
    if (rows.stream().allMatch(a -> a == first)) {
      return first == null ? LoraHook.NONE : first.hook();
    }
    return of(rows, dtype, parent);
  }

  /**
   * As {@link #forRows}, for a decode batch that runs many forward passes with the same rows: a
   * DoRA adapter is gathered even alone, so that its scales are computed once, not at every token.
   */
  public static LoraHook forDecoding(List<LoraAdapter> rows, DataType dtype, NDManager parent) {
    LoraAdapter first = rows.getFirst();
    if (first != null && first.spec().dora() && rows.stream().allMatch(a -> a == first)) {
      return of(rows, dtype, parent);
    }
    return forRows(rows, dtype, parent);
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
    int u = adapters.size();
    double[] select = new double[rows.size() * u];
    double[] scaled = new double[rows.size() * u];
    for (int r = 0; r < rows.size(); r++) {
      LoraAdapter a = rows.get(r);
      if (a != null) {
        select[r * u + entry.get(a)] = 1;
        scaled[r * u + entry.get(a)] = a.spec().scaling();
      }
    }
    int group = u > 0 && rows.size() % u == 0 ? rows.size() / u : 0;
    for (int r = 0; r < rows.size() && group > 0; r++) {
      group = rows.get(r) == adapters.get(r / group) ? group : 0;
    }
    Shape shape = new Shape(rows.size(), u);
    NDArray one = m.create(select, shape).toType(dtype, false);
    NDArray s = m.create(scaled, shape).toType(dtype, false);
    double[] scaling = adapters.stream().mapToDouble(a -> a.spec().scaling()).toArray();
    NDArray column = m.create(scaling, new Shape(u, 1)).toType(dtype, false);
    NDScope.unregister(one, s, column);
    return new LoraGather(m, adapters, one, s, column, group);
  }

  @Override
  public NDArray apply(int layer, Module module, NDArray x, NDArray weight, NDArray y) {
    Optional<NDArray[]> s =
        stacks.computeIfAbsent(
            layer + "/" + module, k -> stack(layer, module, weight, x.getDataType()));
    if (s.isEmpty()) {
      return y;
    }
    NDArray[] stack = s.get();
    if (group > 0) {
      // Row groups in adapter order: [U, k·T, in]·[U, in, R]·s·[U, R, out].
      long u = adapters.size();
      Shape ys = y.getShape();
      NDArray a = stack[0].transpose(0, 2, 1); // [U, in, R]
      NDArray b = stack[1].transpose(0, 2, 1); // [U, R, out]
      NDArray h = x.reshape(u, -1, x.getShape().getLastDimension()).matMul(a); // [U, kT, R]
      NDArray out = y.reshape(u, -1, ys.getLastDimension()).add(h.mul(scalingRows).matMul(b));
      return (stack.length == 2 ? out : out.mul(stack[2].add(1))).reshape(ys); // [B, T, out]
    }
    // Each row's A and s·B, picked by a matmul with the one-hot rows.
    NDArray a = pick(select, stack[0]).transpose(0, 2, 1); // [B, in, R]
    NDArray b = pick(selectScaled, stack[1]).transpose(0, 2, 1); // [B, R, out]
    NDArray out = y.add(x.matMul(a).matMul(b)); // [B, T, in]·[B, in, R]·[B, R, out]
    if (stack.length == 2) {
      return out;
    }
    // DoRA: each row's scale minus 1 is picked (0 for base rows), then 1 added back.
    NDArray scales = pick(select, stack[2]).add(1); // [B, 1, out]
    return out.mul(scales);
  }

  /** Rows per adapter when the rows are U equal groups in adapter order, else 0. */
  int group() {
    return group;
  }

  /** Whether every adapter lays out its parameters alike (stacked from their flat buffers). */
  boolean oneLayout() {
    return oneLayout;
  }

  /** rows [B, U] · stack [U, d1, d2] → [B, d1, d2]. */
  private static NDArray pick(NDArray rows, NDArray stack) {
    Shape s = stack.getShape();
    return rows.matMul(stack.reshape(s.get(0), -1))
        .reshape(rows.getShape().get(0), s.get(1), s.get(2));
  }

  /**
   * Every adapter's A [U, R, in] and B [U, out, R] for one linear, padded to rank R (zeros for an
   * adapter that does not adapt it), and if any is DoRA their scales minus 1 [U, 1, out] (0 for the
   * others); empty if none adapts it.
   */
  private Optional<NDArray[]> stack(int layer, Module module, NDArray weight, DataType dtype) {
    if (oneLayout) {
      return stackOfOneLayout(layer, module, weight);
    }
    List<LoraAdapter.Pair> pairs = new ArrayList<>();
    LoraAdapter.Pair any = null;
    for (LoraAdapter a : adapters) {
      LoraAdapter.Pair p =
          passes.computeIfAbsent(a, LoraAdapter::forPass).get(layer + "/" + module);
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
    NDArray a = NDArrays.stack(as); // [U, R, in]
    NDArray b = NDArrays.stack(bs); // [U, out, R]
    boolean dora = pairs.stream().anyMatch(p -> p != null && p.magnitude() != null);
    NDArray[] pair =
        dora ? new NDArray[] {a, b, doraScales(pairs, a, b, weight, dtype)} : new NDArray[] {a, b};
    return Optional.of(keep(pair));
  }

  /**
   * As {@link #stack}, for adapters of one layout: views of their stacked flat buffers ({@link
   * LoraAdapter#stackedPass}, taken at the first linear), and DoRA's scales minus 1 [U, 1, out].
   */
  private Optional<NDArray[]> stackOfOneLayout(int layer, Module module, NDArray weight) {
    if (stacked == null) {
      stacked = LoraAdapter.stackedPass(adapters, manager);
    }
    LoraAdapter.Pair p = stacked.get(layer + "/" + module);
    if (p == null) {
      return Optional.empty();
    }
    if (p.magnitude() == null) {
      return Optional.of(new NDArray[] {p.a(), p.b()});
    }
    NDArray scales = LoraAdapter.doraScales(p.a(), p.b(), weight, scaling, p.magnitude());
    long out = p.b().getShape().get(1);
    NDArray minusOne = keep(scales.sub(1).reshape(adapters.size(), 1, out))[0]; // [U, 1, out]
    return Optional.of(new NDArray[] {p.a(), p.b(), minusOne});
  }

  /** Arrays kept (and closed) with this hook; while recording, still part of the graph. */
  private NDArray[] keep(NDArray... arrays) {
    NDScope.unregister(arrays);
    for (NDArray a : arrays) {
      a.attach(manager);
    }
    return arrays;
  }

  /**
   * Every adapter's DoRA scale m / ‖W + s·B·A‖ minus 1, [U, 1, out] (0 for a LoRA adapter), from
   * the stacks in one batched {@link LoraAdapter#doraScales} however many adapters are DoRA.
   */
  private NDArray doraScales(
      List<LoraAdapter.Pair> pairs, NDArray a, NDArray b, NDArray weight, DataType dtype) {
    int u = pairs.size();
    long out = b.getShape().get(1);
    double[] scaling = new double[u];
    double[] isDora = new double[u];
    NDList magnitudes = new NDList(u);
    for (int i = 0; i < u; i++) {
      LoraAdapter.Pair p = pairs.get(i);
      boolean on = p != null && p.magnitude() != null;
      scaling[i] = on ? adapters.get(i).spec().scaling() : 0;
      isDora[i] = on ? 1 : 0;
      magnitudes.add(on ? p.magnitude() : manager.zeros(new Shape(out), dtype));
    }
    NDArray s = manager.create(scaling, new Shape(u, 1)).toType(dtype, false); // [U, 1]
    NDArray mask = manager.create(isDora, new Shape(u, 1, 1)).toType(dtype, false); // [U, 1, 1]
    NDArray scales = LoraAdapter.doraScales(a, b, weight, s, NDArrays.stack(magnitudes));
    return scales.sub(1).reshape(u, 1, out).mul(mask); // [U, 1, out]
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
