package dev.lathe.worker.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import dev.lathe.worker.model.llama.LoraHook;
import dev.lathe.worker.model.llama.Module;
import java.util.ArrayList;
import java.util.List;

/**
 * A different adapter on each run of rows of one batch: the frozen matmul runs once over all rows,
 * then each segment adds its own adapter's delta (segment matmuls, so ranks may differ). Rows
 * without an adapter get the base model. Gradients reach each adapter from its own rows only.
 */
public final class LoraRows implements LoraHook {

  /** {@code rows} consecutive batch rows that use {@code adapter} (null: the base model). */
  public record Segment(LoraAdapter adapter, int rows) {

    public Segment {
      if (rows <= 0) {
        throw new IllegalArgumentException("a segment needs at least one row, got " + rows);
      }
    }
  }

  private final List<Segment> segments;

  private LoraRows(List<Segment> segments) {
    this.segments = segments;
  }

  /** The hook for these segments, in batch order; adjacent segments of one adapter are merged. */
  public static LoraHook of(List<Segment> segments) {
    List<Segment> merged = new ArrayList<>();
    for (Segment s : segments) {
      Segment last = merged.isEmpty() ? null : merged.getLast();
      if (last != null && last.adapter() == s.adapter()) {
        merged.set(merged.size() - 1, new Segment(s.adapter(), last.rows() + s.rows()));
      } else {
        merged.add(s);
      }
    }
    if (merged.size() == 1) {
      LoraAdapter only = merged.getFirst().adapter();
      return only == null ? LoraHook.NONE : only.hook();
    }
    return new LoraRows(List.copyOf(merged));
  }

  @Override
  public NDArray apply(int layer, Module module, NDArray x, NDArray y) {
    NDList parts = new NDList(segments.size());
    boolean any = false;
    long row = 0;
    for (Segment s : segments) {
      NDIndex rows = new NDIndex("{}:{}", row, row + s.rows());
      NDArray ys = y.get(rows); // [rows, T, out]
      NDArray d = s.adapter() == null ? null : s.adapter().delta(layer, module, x.get(rows));
      parts.add(d == null ? ys : ys.add(d));
      any |= d != null;
      row += s.rows();
    }
    return any ? NDArrays.concat(parts, 0) : y; // [B, T, out]
  }
}
