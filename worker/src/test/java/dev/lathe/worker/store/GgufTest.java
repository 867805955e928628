package dev.lathe.worker.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lathe.contracts.WireJson;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * The GGUF reader against the `gguf` package: quants.gguf holds one tensor of each type Lathe
 * reads, quantised by that package, and quants.json its dequantisation of each
 * (worker/src/test/python/make_smollm2_golden.py). Malformed files are refused at open, naming what
 * is wrong.
 */
class GgufTest {

  static final Path QUANTS = Path.of("src/test/resources/gguf/quants.gguf");

  @TempDir Path tmp;

  @Test
  void everyTypeDequantisesAsTheGgufPackageDoes() throws IOException {
    JsonNode expected = WireJson.mapper().readTree(QUANTS.resolveSibling("quants.json").toFile());
    Gguf g = Gguf.open(QUANTS);
    assertThat(g.tensors().keySet())
        .containsExactlyInAnyOrder("t.f32", "t.f16", "t.bf16", "t.q8_0", "t.q4_0", "t.q4_1");
    assertThat(g.string("general.architecture")).isEqualTo("llama");
    for (var e : expected.properties()) {
      Gguf.Tensor t = g.tensors().get(e.getKey());
      assertThat(t.type().name()).isEqualTo(e.getValue().get("type").asString());
      assertThat(t.shape()).containsExactly(3, 64);
      float[] ours = g.floats(e.getKey());
      JsonNode want = e.getValue().get("values");
      assertThat(ours).hasSize(want.size());
      for (int i = 0; i < ours.length; i++) {
        assertThat(ours[i]).as("%s[%d]", e.getKey(), i).isEqualTo(want.get(i).floatValue());
      }
    }
  }

  @Test
  void aTruncatedFileIsRefusedAtOpen() throws IOException {
    byte[] file = Files.readAllBytes(QUANTS);
    // The file may end in alignment padding: cut inside the last tensor's data at the latest.
    long dataEnd =
        Gguf.open(QUANTS).tensors().values().stream()
            .mapToLong(t -> t.start() + t.type().bytes(t.elements()))
            .max()
            .orElseThrow();
    for (int cut : new int[] {0, 3, 10, 30, 200, (int) dataEnd - 100, (int) dataEnd - 1}) {
      Path f = tmp.resolve("cut-" + cut + ".gguf");
      Files.write(f, Arrays.copyOf(file, cut));
      assertThatThrownBy(() -> Gguf.open(f))
          .as("cut at %d", cut)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith(f.toString());
    }
  }

  @Test
  void malformedHeadersNameWhatIsWrong() throws IOException {
    assertRefused(new Writer().magic(0x12345678), "not a GGUF file");
    assertRefused(new Writer().version(7), "GGUF version 7 is not supported");
    assertRefused(new Writer().tensor("w", 12, 32, 4), "tensor 'w': ggml type 12 is not supported");
    assertRefused(new Writer().tensor("w", 0, 32, 4).offset(64), "tensor 'w': data at offset 64");
    assertRefused(new Writer().tensor("w", 8, 30, 4), "tensor 'w': rows of 30 are not whole Q8_0");
    assertRefused(new Writer().tensor("w", 0, 0, 4), "tensor 'w': dimension 0");
    assertRefused(new Writer().hugeString(), "runs past the end of the file");
    assertThat(
            Gguf.open(new Writer().tensor("w", 0, 32, 4).write(tmp.resolve("ok.gguf"))).tensors())
        .containsKey("w");
  }

  private void assertRefused(Writer w, String message) throws IOException {
    Path f = w.write(tmp.resolve("bad-" + System.nanoTime() + ".gguf"));
    assertThatThrownBy(() -> Gguf.open(f))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(message);
  }

  /** Writes a one-tensor GGUF file, or a broken one. */
  static final class Writer {
    int magic = 0x46554747;
    int version = 3;
    String name;
    int type;
    long ne0;
    long ne1;
    long offset;
    boolean hugeString;

    Writer magic(int m) {
      magic = m;
      return this;
    }

    Writer version(int v) {
      version = v;
      return this;
    }

    Writer tensor(String name, int type, long ne0, long ne1) {
      this.name = name;
      this.type = type;
      this.ne0 = ne0;
      this.ne1 = ne1;
      return this;
    }

    Writer offset(long o) {
      offset = o;
      return this;
    }

    Writer hugeString() {
      hugeString = true;
      return this;
    }

    Path write(Path f) throws IOException {
      ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
      b.putInt(magic).putInt(version).putLong(name == null ? 0 : 1).putLong(1);
      byte[] key = "general.architecture".getBytes(StandardCharsets.UTF_8);
      b.putLong(hugeString ? 1L << 40 : key.length).put(key).putInt(8);
      byte[] arch = "llama".getBytes(StandardCharsets.UTF_8);
      b.putLong(arch.length).put(arch);
      if (name != null) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        b.putLong(n.length).put(n).putInt(2).putLong(ne0).putLong(ne1).putInt(type).putLong(offset);
      }
      int data = (b.position() + 31) / 32 * 32;
      b.position(data);
      if (name != null) {
        b.position(data + (int) (ne0 * ne1 * 4)); // room for F32 data; smaller types need less
      }
      Files.write(f, Arrays.copyOf(b.array(), b.position()));
      return f;
    }
  }
}
