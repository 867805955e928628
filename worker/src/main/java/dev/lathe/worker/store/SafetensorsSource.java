package dev.lathe.worker.store;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.contracts.WireJson;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import tools.jackson.databind.JsonNode;

/**
 * The tensors of a Hugging Face checkpoint: {@code model.safetensors}, or the shards named by
 * {@code model.safetensors.index.json}.
 */
final class SafetensorsSource implements TensorSource {

  private final Map<String, Safetensors.File> byTensor;

  private SafetensorsSource(Map<String, Safetensors.File> byTensor) {
    this.byTensor = byTensor;
  }

  /**
   * Opens the weights of a model directory.
   *
   * @throws IllegalArgumentException naming the missing or corrupt file
   */
  static SafetensorsSource open(Path dir) {
    try {
      Path single = dir.resolve("model.safetensors");
      Path index = dir.resolve("model.safetensors.index.json");
      Map<String, Safetensors.File> byTensor = new HashMap<>();
      if (Files.isRegularFile(single)) {
        Safetensors.File f = Safetensors.open(single);
        f.entries().keySet().forEach(name -> byTensor.put(name, f));
      } else if (Files.isRegularFile(index)) {
        JsonNode map = WireJson.mapper().readTree(index.toFile()).get("weight_map");
        if (map == null || !map.isObject()) {
          throw new IllegalArgumentException(index + ": weight_map is missing");
        }
        Map<String, Safetensors.File> shards = new HashMap<>();
        for (var e : map.properties()) {
          String shard = e.getValue().asString();
          if (shard.contains("/") || shard.contains("\\")) {
            throw new IllegalArgumentException(
                index + ": shard name " + shard + " is not a file name");
          }
          Safetensors.File f = shards.get(shard);
          if (f == null) {
            f = Safetensors.open(dir.resolve(shard));
            shards.put(shard, f);
          }
          if (!f.entries().containsKey(e.getKey())) {
            throw new IllegalArgumentException(
                f.path() + ": tensor '" + e.getKey() + "' named in the index is missing");
          }
          byTensor.put(e.getKey(), f);
        }
      } else {
        throw new IllegalArgumentException(
            dir + ": neither model.safetensors nor model.safetensors.index.json exists");
      }
      return new SafetensorsSource(byTensor);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public boolean contains(String name) {
    return byTensor.containsKey(name);
  }

  @Override
  public Set<String> names() {
    return byTensor.keySet();
  }

  @Override
  public NDArray load(NDManager manager, String name, DataType dtype, long... shape) {
    Safetensors.File f = byTensor.get(name);
    if (f == null) {
      throw new IllegalArgumentException("checkpoint: tensor '" + name + "' is missing");
    }
    return f.load(manager, name, dtype, shape);
  }
}
