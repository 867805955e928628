package dev.lathe.worker.store;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lathe.contracts.WireJson;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntToDoubleFunction;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and byte range, then the raw little-endian data. F32, F16 and BF16 read (computed in
 * the caller's dtype), F32 and F64 read and written.
 */
public final class Safetensors {

  private static final long MAX_HEADER = 100L << 20;

  private Safetensors() {}

  /** One tensor's entry in a header. */
  public record Entry(String dtype, long[] shape, long begin, long end) {

    long elements() {
      long n = 1;
      for (long d : shape) {
        n = Math.multiplyExact(n, d);
      }
      return n;
    }
  }

  /** An open safetensors file: its header, and tensors read on demand from a memory map. */
  public static final class File {
    private final Path path;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;
    private final long dataStart;

    private File(
        Path path, Map<String, Entry> entries, Map<String, String> metadata, long dataStart) {
      this.path = path;
      this.entries = entries;
      this.metadata = metadata;
      this.dataStart = dataStart;
    }

    public Path path() {
      return path;
    }

    public Map<String, Entry> entries() {
      return entries;
    }

    public Map<String, String> metadata() {
      return metadata;
    }

    /**
     * Reads a tensor as {@code dtype} (FLOAT32 or FLOAT64).
     *
     * @throws IllegalArgumentException naming file and tensor if it is absent or has another shape
     */
    public NDArray load(NDManager manager, String name, DataType dtype, long... expectedShape) {
      Entry e = entries.get(name);
      if (e == null) {
        throw new IllegalArgumentException(path + ": tensor '" + name + "' is missing");
      }
      if (expectedShape.length > 0 && !Arrays.equals(e.shape(), expectedShape)) {
        throw new IllegalArgumentException(
            path
                + ": tensor '"
                + name
                + "' has shape "
                + Arrays.toString(e.shape())
                + ", expected "
                + Arrays.toString(expectedShape));
      }
      ByteBuffer b = bytes(name, e);
      IntToDoubleFunction element = decoder(name, e.dtype(), b);
      int n = Math.toIntExact(e.elements());
      Shape shape = new Shape(e.shape());
      if (dtype == DataType.FLOAT64) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
          d[i] = element.applyAsDouble(i);
        }
        return manager.create(d, shape);
      }
      float[] f = new float[n];
      for (int i = 0; i < n; i++) {
        f[i] = (float) element.applyAsDouble(i);
      }
      return manager.create(f, shape);
    }

    /**
     * The tensor's bytes, read rather than mapped: a mapping would hold the file (and, once a newer
     * snapshot replaces it, its disk space) until the garbage collector frees the buffer.
     */
    private ByteBuffer bytes(String name, Entry e) {
      try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(e.end() - e.begin()));
        while (b.hasRemaining()) {
          if (ch.read(b, dataStart + e.begin() + b.position()) < 0) {
            throw new IOException("file ends inside the tensor");
          }
        }
        return b.flip().order(ByteOrder.LITTLE_ENDIAN);
      } catch (IOException io) {
        throw new UncheckedIOException(path + ": cannot read tensor '" + name + "'", io);
      }
    }

    private IntToDoubleFunction decoder(String name, String dtype, ByteBuffer b) {
      return switch (dtype) {
        case "F32" -> i -> b.getFloat(i * 4);
        case "F64" -> i -> b.getDouble(i * 8);
        case "F16" -> i -> Float.float16ToFloat(b.getShort(i * 2));
        case "BF16" -> i -> Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16);
        default ->
            throw new IllegalArgumentException(
                path + ": tensor '" + name + "' has unsupported dtype " + dtype);
      };
    }
  }

  /**
   * Opens a file and checks its header.
   *
   * @throws IOException if the file cannot be read
   * @throws IllegalArgumentException naming the file if it is not valid safetensors
   */
  public static File open(Path path) throws IOException {
    if (!Files.isRegularFile(path)) {
      throw new IllegalArgumentException(path + ": file is missing");
    }
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw new IllegalArgumentException(path + ": not a safetensors file (too short)");
      }
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(len, 0);
      long headerLen = len.getLong(0);
      if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
        throw new IllegalArgumentException(
            path + ": corrupt safetensors header length " + headerLen);
      }
      ByteBuffer header = ByteBuffer.allocate((int) headerLen);
      ch.read(header, 8);
      long dataStart = 8 + headerLen;
      long dataLen = size - dataStart;
      Map<String, Entry> entries = new LinkedHashMap<>();
      Map<String, String> metadata = new TreeMap<>();
      JsonNode root;
      try {
        root = WireJson.mapper().readTree(new String(header.array(), StandardCharsets.UTF_8));
      } catch (RuntimeException e) {
        throw new IllegalArgumentException(path + ": corrupt safetensors header", e);
      }
      for (var field : root.properties()) {
        if (field.getKey().equals("__metadata__")) {
          field
              .getValue()
              .properties()
              .forEach(m -> metadata.put(m.getKey(), m.getValue().asString()));
          continue;
        }
        entries.put(field.getKey(), entry(path, field.getKey(), field.getValue(), dataLen));
      }
      return new File(path, entries, metadata, dataStart);
    }
  }

  private static Entry entry(Path path, String name, JsonNode node, long dataLen) {
    JsonNode shapeNode = node.get("shape");
    JsonNode offsets = node.get("data_offsets");
    if (node.get("dtype") == null || shapeNode == null || offsets == null || offsets.size() != 2) {
      throw new IllegalArgumentException(path + ": tensor '" + name + "' has a malformed entry");
    }
    long[] shape = new long[shapeNode.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = shapeNode.get(i).asLong();
    }
    String dtype = node.get("dtype").asString();
    Entry e = new Entry(dtype, shape, offsets.get(0).asLong(), offsets.get(1).asLong());
    long width =
        switch (dtype) {
          case "F64" -> 8;
          case "F32" -> 4;
          case "F16", "BF16" -> 2;
          default -> 0; // unsupported types are refused when loaded, not when listed
        };
    if (e.begin() < 0
        || e.end() > dataLen
        || e.end() < e.begin()
        || (width > 0 && e.end() - e.begin() != e.elements() * width)) {
      throw new IllegalArgumentException(
          path + ": tensor '" + name + "' has data offsets that do not match its shape and dtype");
    }
    return e;
  }

  /**
   * Writes tensors in the given order as F32 (or F64 for float64 arrays), atomically: the file
   * appears complete or not at all.
   */
  public static void write(Path path, Map<String, NDArray> tensors, Map<String, String> metadata)
      throws IOException {
    List<Raw> raw = new ArrayList<>(tensors.size());
    for (var t : tensors.entrySet()) {
      NDArray a = t.getValue();
      boolean f64 = a.getDataType() == DataType.FLOAT64;
      NDArray typed = f64 ? a : a.toType(DataType.FLOAT32, false);
      byte[] bytes = littleEndian(typed);
      if (typed != a) {
        typed.close();
      }
      raw.add(new Raw(t.getKey(), f64, a.getShape().getShape(), ByteBuffer.wrap(bytes)));
    }
    write(path, raw, metadata);
  }

  /** A tensor to write: its name, F64 or F32, shape, and little-endian bytes. */
  public record Raw(String name, boolean f64, long[] shape, ByteBuffer bytes) {}

  /** Writes tensors given as bytes (written whole, then moved into place). */
  public static void write(Path path, List<Raw> tensors, Map<String, String> metadata)
      throws IOException {
    ObjectNode header = WireJson.mapper().createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (Raw t : tensors) {
      ObjectNode entry = header.putObject(t.name());
      entry.put("dtype", t.f64() ? "F64" : "F32");
      var shape = entry.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      entry.putArray("data_offsets").add(offset).add(offset + t.bytes().remaining());
      offset += t.bytes().remaining();
    }
    byte[] json = WireJson.mapper().writeValueAsBytes(header);
    int padded = (json.length + 7) / 8 * 8;
    byte[] headerBytes = Arrays.copyOf(json, padded);
    Arrays.fill(headerBytes, json.length, padded, (byte) ' ');
    Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
    try (FileChannel out =
        FileChannel.open(
            tmp,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).flip());
      out.write(ByteBuffer.wrap(headerBytes));
      for (Raw t : tensors) {
        ByteBuffer b = t.bytes().duplicate();
        while (b.hasRemaining()) {
          out.write(b);
        }
      }
    }
    Files.move(
        tmp,
        path,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }

  /** The little-endian bytes of an array (a copy). */
  public static ByteBuffer bytes(NDArray a) {
    return ByteBuffer.wrap(littleEndian(a));
  }

  private static byte[] littleEndian(NDArray a) {
    ByteBuffer native_ = a.toByteBuffer();
    if (native_.order() == ByteOrder.LITTLE_ENDIAN) {
      byte[] out = new byte[native_.remaining()];
      native_.get(out);
      return out;
    }
    ByteBuffer out = ByteBuffer.allocate(native_.remaining()).order(ByteOrder.LITTLE_ENDIAN);
    if (a.getDataType() == DataType.FLOAT64) {
      out.asDoubleBuffer().put(native_.asDoubleBuffer());
    } else {
      out.asFloatBuffer().put(native_.asFloatBuffer());
    }
    return out.array();
  }
}
