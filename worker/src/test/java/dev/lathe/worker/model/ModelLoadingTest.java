package dev.lathe.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.worker.TinyModel;
import dev.lathe.worker.store.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Broken model directories fail with a message that names the file and the tensor. */
class ModelLoadingTest {

  @TempDir Path tmp;

  Path copyOfTiny() throws IOException {
    Path dir = tmp.resolve("model");
    Files.createDirectories(dir);
    try (var files = Files.list(TinyModel.dir())) {
      for (Path f : files.toList()) {
        Files.copy(f, dir.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    return dir;
  }

  @Test
  void loadsLatheTinyWithItsShape() {
    try (NDManager m = NDManager.newBaseManager();
        BaseModel model = TinyModel.load(m, DataType.FLOAT32)) {
      assertThat(model.name()).isEqualTo("lathe-tiny");
      assertThat(model.config().numKeyValueHeads()).isEqualTo(4);
      assertThat(model.config().parameterCount()).isBetween(2_500_000L, 4_000_000L);
      assertThat(model.llama().weights().tied()).isFalse();
    }
  }

  @Test
  void aMissingFileIsNamed() throws IOException {
    Path dir = copyOfTiny();
    Files.delete(dir.resolve("model.safetensors"));
    assertThatThrownBy(() -> load(dir)).hasMessageContaining("model.safetensors");
    Path noConfig = copyOfTiny();
    Files.delete(noConfig.resolve("config.json"));
    assertThatThrownBy(() -> load(noConfig)).hasMessageContaining("config.json: file is missing");
  }

  @Test
  void anUnknownArchitectureIsRefused() throws IOException {
    Path dir = copyOfTiny();
    Path config = dir.resolve("config.json");
    Files.writeString(
        config, Files.readString(config).replace("LlamaForCausalLM", "GPT2LMHeadModel"));
    assertThatThrownBy(() -> load(dir))
        .hasMessageContaining("GPT2LMHeadModel")
        .hasMessageContaining("architectures");
  }

  @Test
  void aTensorOfTheWrongShapeOrDtypeIsNamed() throws IOException {
    Path dir = copyOfTiny();
    try (NDManager m = NDManager.newBaseManager()) {
      Safetensors.File f = Safetensors.open(TinyModel.dir().resolve("model.safetensors"));
      Map<String, NDArray> tensors = new LinkedHashMap<>();
      for (String name : f.entries().keySet()) {
        tensors.put(name, f.load(m, name, DataType.FLOAT32));
      }
      tensors.put("model.layers.2.mlp.up_proj.weight", m.zeros(new Shape(3, 3)));
      Safetensors.write(dir.resolve("model.safetensors"), tensors, Map.of());
    }
    assertThatThrownBy(() -> load(dir))
        .hasMessageContaining("model.safetensors")
        .hasMessageContaining("model.layers.2.mlp.up_proj.weight")
        .hasMessageContaining("shape");
  }

  @Test
  void aTruncatedWeightsFileIsRefused() throws IOException {
    Path dir = copyOfTiny();
    Path weights = dir.resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(weights);
    Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length / 2));
    assertThatThrownBy(() -> load(dir))
        .hasMessageContaining("model.safetensors")
        .hasMessageContaining("offsets");
  }

  @Test
  void bf16AndF16WeightsAreReadAsFloat32() throws IOException {
    // A hand-written file: header, then 1.5 and -2.0 in BF16 and F16.
    String header =
        "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
            + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}";
    var buf =
        java.nio.ByteBuffer.allocate(8 + header.length() + 8)
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    buf.putLong(header.length()).put(header.getBytes());
    buf.putShort((short) (Float.floatToIntBits(1.5f) >>> 16))
        .putShort((short) (Float.floatToIntBits(-2f) >>> 16));
    buf.putShort(Float.floatToFloat16(1.5f)).putShort(Float.floatToFloat16(-2f));
    Path file = tmp.resolve("half.safetensors");
    Files.write(file, buf.array());
    try (NDManager m = NDManager.newBaseManager()) {
      Safetensors.File f = Safetensors.open(file);
      assertThat(f.load(m, "b", DataType.FLOAT32).toFloatArray()).containsExactly(1.5f, -2f);
      assertThat(f.load(m, "h", DataType.FLOAT32).toFloatArray()).containsExactly(1.5f, -2f);
    }
  }

  private static void load(Path dir) {
    try (NDManager m = NDManager.newBaseManager()) {
      BaseModel.load(dir, m, DataType.FLOAT32).close();
    }
  }
}
