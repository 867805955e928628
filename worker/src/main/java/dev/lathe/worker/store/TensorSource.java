package dev.lathe.worker.store;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Path;
import java.util.Set;

/** A base model's tensors by their Hugging Face names, whatever file format holds them. */
public interface TensorSource {

  boolean contains(String name);

  Set<String> names();

  /**
   * Loads a tensor and checks its shape (none given: any).
   *
   * @throws IllegalArgumentException naming the tensor if it is missing or misshapen
   */
  NDArray load(NDManager manager, String name, DataType dtype, long... shape);

  /** The safetensors of a Hugging Face model directory. */
  static TensorSource open(Path dir) {
    return SafetensorsSource.open(dir);
  }
}
