package dev.lathe.worker.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/**
 * Keys and values of every layer for a batch of sequences decoded in step, preallocated to their
 * final length. Close it (or its manager) when decoding ends.
 */
public final class KvCache implements AutoCloseable {

  private final NDManager manager;
  private final NDArray[] keys; // per layer [B, kvHeads, capacity, hd]
  private final NDArray[] values;
  private final int capacity;
  private int length;

  public KvCache(LlamaConfig c, NDManager parent, DataType dtype, int batch, int capacity) {
    this.manager = parent.newSubManager();
    this.capacity = capacity;
    Shape shape = new Shape(batch, c.numKeyValueHeads(), capacity, c.headDim());
    keys = new NDArray[c.numHiddenLayers()];
    values = new NDArray[c.numHiddenLayers()];
    for (int l = 0; l < keys.length; l++) {
      keys[l] = manager.zeros(shape, dtype);
      values[l] = manager.zeros(shape, dtype);
    }
  }

  private KvCache(NDManager manager, NDArray[] keys, NDArray[] values, int capacity, int length) {
    this.manager = manager;
    this.keys = keys;
    this.values = values;
    this.capacity = capacity;
    this.length = length;
  }

  /**
   * One cache for the rows of several, each right-aligned at slot {@code width}: part p's cached
   * tokens move to slots [width - length_p, width), the slots before them are left padding (see
   * {@link Llama#forwardLeftPadded}). The parts are left as they were.
   */
  public static KvCache stack(List<KvCache> parts, NDManager parent, int width, int capacity) {
    NDManager m = parent.newSubManager();
    int layers = parts.getFirst().keys.length;
    long rows = parts.stream().mapToLong(p -> p.keys[0].getShape().get(0)).sum();
    NDArray[] keys = new NDArray[layers];
    NDArray[] values = new NDArray[layers];
    for (int l = 0; l < layers; l++) {
      Shape one = parts.getFirst().keys[l].getShape(); // [B, KV, capacity, hd]
      Shape shape = new Shape(rows, one.get(1), capacity, one.get(3));
      keys[l] = m.zeros(shape, parts.getFirst().keys[l].getDataType());
      values[l] = m.zeros(shape, parts.getFirst().keys[l].getDataType());
      long r0 = 0;
      for (KvCache p : parts) {
        long b = p.keys[l].getShape().get(0);
        NDIndex from = new NDIndex(":, :, :{}", p.length);
        NDIndex to = new NDIndex("{}:{}, :, {}:{}", r0, r0 + b, width - p.length, width);
        try (NDArray k = p.keys[l].get(from);
            NDArray v = p.values[l].get(from)) {
          keys[l].set(to, k);
          values[l].set(to, v);
        }
        r0 += b;
      }
    }
    return new KvCache(m, keys, values, capacity, width);
  }

  /**
   * A cache of only the given rows, their slots moved {@code from} to the left (slots before {@code
   * from} must be padding in every kept row). This cache is left as it was.
   *
   * @param rows the rows to keep, in their new order
   */
  public KvCache keep(long[] rows, int from, NDManager parent) {
    NDManager m = parent.newSubManager();
    NDArray[] k = new NDArray[keys.length];
    NDArray[] v = new NDArray[keys.length];
    try (NDArray index = m.create(rows)) {
      NDIndex slots = new NDIndex(":, :, {}:{}", from, length);
      for (int l = 0; l < keys.length; l++) {
        Shape shape = keys[l].getShape(); // [B, KV, capacity, hd]
        Shape kept = new Shape(rows.length, shape.get(1), capacity - from, shape.get(3));
        k[l] = m.zeros(kept, keys[l].getDataType());
        v[l] = m.zeros(kept, values[l].getDataType());
        NDIndex to = new NDIndex(":, :, :{}", length - from);
        try (NDArray kr = keys[l].get(index);
            NDArray vr = values[l].get(index);
            NDArray ks = kr.get(slots);
            NDArray vs = vr.get(slots)) {
          k[l].set(to, ks);
          v[l].set(to, vs);
        }
      }
    }
    return new KvCache(m, k, v, capacity - from, length - from);
  }

  /** Bytes of device memory the keys and values take. */
  public long bytes() {
    long n = 0;
    for (int l = 0; l < keys.length; l++) {
      n += keys[l].size() * keys[l].getDataType().getNumOfBytes();
      n += values[l].size() * values[l].getDataType().getNumOfBytes();
    }
    return n;
  }

  /** Tokens already cached. */
  public int length() {
    return length;
  }

  /**
   * Repeats every row n times: a prompt prefilled once then serves n samples [B*n, ...], the copies
   * of a row next to each other.
   */
  public void repeatRows(int n) {
    for (int l = 0; l < keys.length; l++) {
      NDArray k = keys[l];
      NDArray v = values[l];
      keys[l] = k.repeat(0, n);
      values[l] = v.repeat(0, n);
      k.close();
      v.close();
    }
  }

  /**
   * Stores a layer's new keys and values [B, kvHeads, T, hd] at the current end; returns all keys
   * and values so far [B, kvHeads, len+T, hd].
   */
  NDArray[] append(int layer, NDArray k, NDArray v) {
    long t = k.getShape().get(2);
    if (length + t > capacity) {
      throw new IllegalStateException("KV cache holds " + capacity + " tokens");
    }
    NDIndex slot = new NDIndex(":, :, {}:{}", length, length + t);
    keys[layer].set(slot, k);
    values[layer].set(slot, v);
    NDIndex upTo = new NDIndex(":, :, :{}", length + t);
    return new NDArray[] {keys[layer].get(upTo), values[layer].get(upTo)};
  }

  /** Called by the model once all layers stored a step of T tokens. */
  void advance(int t) {
    length += t;
  }

  @Override
  public void close() {
    manager.close();
  }
}
