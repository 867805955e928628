package dev.lathe.worker.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Scalars for the autograd path. DJL's {@code mul(Number)} and kin wrap the number in a tensor over
 * a Java direct buffer and close it right after the operation; autograd keeps that tensor for the
 * backward pass, and once the garbage collector frees the buffer the gradient reads garbage. A
 * scalar made here lives in memory that PyTorch owns: multiply by it instead.
 */
public final class Scalars {

  private Scalars() {}

  /** A 0-d tensor holding {@code value}, in PyTorch's own memory. */
  public static NDArray of(NDManager m, double value, DataType dtype) {
    NDArray s = m.ones(new Shape(), dtype);
    s.muli(value); // in place: the temporary scalar is read at once, nothing keeps it
    return s;
  }
}
