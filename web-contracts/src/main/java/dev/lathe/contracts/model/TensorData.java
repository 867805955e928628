package dev.lathe.contracts.model;

import com.fasterxml.jackson.annotation.JsonIgnore;
import dev.lathe.contracts.Wire;
import java.util.ArrayList;
import java.util.List;

/**
 * A tensor on the wire: flat row-major {@code data}, its {@code dtype} and optional {@code shape}
 * (1-D when absent). With {@code sparse_crow_indices} and {@code sparse_col_indices} it is a CSR
 * matrix: {@code data} holds only the non-zero values and {@code shape} is the dense shape.
 */
@Wire
public record TensorData(
    List<Number> data,
    TensorDtype dtype,
    List<Integer> shape,
    List<Integer> sparseCrowIndices,
    List<Integer> sparseColIndices) {

  public TensorData {
    data = data == null ? List.of() : data;
  }

  public static TensorData ofFloats(float... values) {
    List<Number> data = new ArrayList<>(values.length);
    for (float v : values) {
      data.add(v);
    }
    return new TensorData(data, TensorDtype.FLOAT32, List.of(values.length), null, null);
  }

  public static TensorData ofLongs(long... values) {
    List<Number> data = new ArrayList<>(values.length);
    for (long v : values) {
      data.add(v);
    }
    return new TensorData(data, TensorDtype.INT64, List.of(values.length), null, null);
  }

  @JsonIgnore
  public boolean isSparse() {
    return sparseCrowIndices != null || sparseColIndices != null;
  }

  /** The dense shape: {@code shape}, or {@code [data.size()]} for a 1-D dense tensor. */
  public int[] denseShape() {
    if (shape == null) {
      if (isSparse()) {
        throw new IllegalArgumentException("shape is required for a sparse tensor");
      }
      return new int[] {data.size()};
    }
    int[] s = new int[shape.size()];
    for (int i = 0; i < s.length; i++) {
      Integer d = shape.get(i);
      if (d == null || d < 0) {
        throw new IllegalArgumentException("shape[" + i + "] must be a non-negative integer");
      }
      s[i] = d;
    }
    return s;
  }

  /**
   * All values in dense row-major order, CSR expanded.
   *
   * @throws IllegalArgumentException naming the field when shape, data and indices disagree
   */
  public double[] denseValues() {
    int[] dims = denseShape();
    long size = 1;
    for (int d : dims) {
      size = Math.multiplyExact(size, d);
    }
    if (size > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("shape describes too many elements: " + size);
    }
    double[] out = new double[(int) size];
    if (!isSparse()) {
      if (data.size() != size) {
        throw new IllegalArgumentException(
            "data has " + data.size() + " values but shape " + shape + " needs " + size);
      }
      for (int i = 0; i < out.length; i++) {
        out[i] = value(i);
      }
      return out;
    }
    if (sparseCrowIndices == null || sparseColIndices == null) {
      throw new IllegalArgumentException(
          "sparse_crow_indices and sparse_col_indices must be given together");
    }
    if (dims.length != 2) {
      throw new IllegalArgumentException("a sparse tensor must be 2-D, shape is " + shape);
    }
    int rows = dims[0];
    int cols = dims[1];
    int nnz = data.size();
    if (sparseCrowIndices.size() != rows + 1) {
      throw new IllegalArgumentException(
          "sparse_crow_indices must have rows + 1 = " + (rows + 1) + " entries");
    }
    if (sparseColIndices.size() != nnz) {
      throw new IllegalArgumentException(
          "sparse_col_indices must have one entry per value (" + nnz + ")");
    }
    if (sparseCrowIndices.get(0) == null || sparseCrowIndices.get(0) != 0) {
      throw new IllegalArgumentException("sparse_crow_indices[0] must be 0");
    }
    for (int r = 0; r < rows; r++) {
      Integer from = sparseCrowIndices.get(r);
      Integer to = sparseCrowIndices.get(r + 1);
      if (from == null || to == null || to < from || to > nnz) {
        throw new IllegalArgumentException(
            "sparse_crow_indices[" + (r + 1) + "] must be non-decreasing and at most " + nnz);
      }
      for (int k = from; k < to; k++) {
        Integer c = sparseColIndices.get(k);
        if (c == null || c < 0 || c >= cols) {
          throw new IllegalArgumentException(
              "sparse_col_indices[" + k + "] must be in [0, " + cols + ")");
        }
        out[r * cols + c] = value(k);
      }
    }
    if (sparseCrowIndices.get(rows) != nnz) {
      throw new IllegalArgumentException("sparse_crow_indices[" + rows + "] must equal " + nnz);
    }
    return out;
  }

  private double value(int i) {
    Number n = data.get(i);
    if (n == null) {
      throw new IllegalArgumentException("data[" + i + "] is null");
    }
    return n.doubleValue();
  }
}
