package dev.lathe.worker.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (llama.cpp's format, versions 2 and 3): its metadata, its tensor infos, and each
 * tensor dequantised to float32 — F32, F16, BF16, Q8_0, Q4_0 and Q4_1. Values come out row-major in
 * the file's own order: GGUF lists dimensions fastest first, so {@code [ne0, ne1]} is a matrix of
 * ne1 rows of ne0, as numpy and PyTorch hold it.
 *
 * <p>Everything is checked while the header is read (magic, version, counts, string and array
 * lengths, dimensions, types, offsets and alignment against the file's size), so a malformed file
 * fails at {@link #open} naming the tensor or key, before any tensor is loaded.
 */
public final class Gguf {

  private static final int MAGIC = 0x46554747; // "GGUF", little-endian
  private static final int DEFAULT_ALIGNMENT = 32;
  private static final long MAX_COUNT = 1 << 24;

  /** The tensor types Lathe dequantises, by ggml's numbering. */
  public enum Type {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q8_0(8, 32, 34),
    BF16(30, 1, 2);

    final int id;
    final int blockElements;
    final int blockBytes;

    Type(int id, int blockElements, int blockBytes) {
      this.id = id;
      this.blockElements = blockElements;
      this.blockBytes = blockBytes;
    }

    static Type of(int id) {
      for (Type t : values()) {
        if (t.id == id) {
          return t;
        }
      }
      return null;
    }

    long bytes(long elements) {
      return elements / blockElements * blockBytes;
    }
  }

  /**
   * One tensor: its dimensions fastest first ({@code ne0, ne1, ...}), type, and where its data
   * starts (absolute in the file).
   */
  public record Tensor(String name, long[] dims, Type type, long start) {

    public long elements() {
      long n = 1;
      for (long d : dims) {
        n *= d;
      }
      return n;
    }

    /** The shape as PyTorch holds it: slowest first. */
    public long[] shape() {
      long[] s = new long[dims.length];
      for (int i = 0; i < dims.length; i++) {
        s[i] = dims[dims.length - 1 - i];
      }
      return s;
    }
  }

  private final Path path;
  private final Map<String, Object> metadata;
  private final Map<String, Tensor> tensors;

  private Gguf(Path path, Map<String, Object> metadata, Map<String, Tensor> tensors) {
    this.path = path;
    this.metadata = metadata;
    this.tensors = tensors;
  }

  public Path path() {
    return path;
  }

  /**
   * Metadata values: Long (any integer type), Double (float32/64), Boolean, String, or a List of
   * those.
   */
  public Map<String, Object> metadata() {
    return metadata;
  }

  public Map<String, Tensor> tensors() {
    return tensors;
  }

  /** A string value; a missing or mistyped key is an error naming it. */
  public String string(String key) {
    if (!(metadata.get(key) instanceof String s)) {
      throw error(key + " is missing or not a string");
    }
    return s;
  }

  /** A non-empty array of strings; a missing or mistyped key is an error naming it. */
  public List<String> strings(String key) {
    if (!(metadata.get(key) instanceof List<?> l) || l.isEmpty()) {
      throw error(key + " is missing or not an array");
    }
    List<String> out = new ArrayList<>(l.size());
    for (Object o : l) {
      if (!(o instanceof String str)) {
        throw error(key + " must hold strings");
      }
      out.add(str);
    }
    return out;
  }

  /** An error about this file. */
  public IllegalArgumentException error(String why) {
    return new IllegalArgumentException(path + ": " + why);
  }

  /**
   * Reads and checks the header.
   *
   * @throws IllegalArgumentException naming the file and the key or tensor that is wrong
   */
  public static Gguf open(Path path) {
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      Reader r = new Reader(ch, path);
      if (r.i32() != MAGIC) {
        throw r.bad("not a GGUF file (no GGUF magic)");
      }
      int version = r.i32();
      if (version != 2 && version != 3) {
        throw r.bad("GGUF version " + version + " is not supported (2 or 3)");
      }
      long tensorCount = r.count("tensor_count");
      long kvCount = r.count("kv_count");
      Map<String, Object> metadata = new LinkedHashMap<>();
      for (long i = 0; i < kvCount; i++) {
        String key = r.string("metadata key " + i);
        metadata.put(key, r.value(r.i32(), key));
      }
      List<Tensor> infos = new ArrayList<>();
      long[] offsets = new long[(int) tensorCount];
      for (int i = 0; i < tensorCount; i++) {
        String name = r.string("tensor " + i + " name");
        int nDims = r.i32();
        if (nDims < 1 || nDims > 4) {
          throw r.bad("tensor '" + name + "': " + nDims + " dimensions");
        }
        long[] dims = new long[nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++) {
          dims[d] = r.i64();
          if (dims[d] <= 0 || dims[d] > Integer.MAX_VALUE) {
            throw r.bad("tensor '" + name + "': dimension " + dims[d]);
          }
          elements = Math.multiplyExact(elements, dims[d]);
        }
        int typeId = r.i32();
        Type type = Type.of(typeId);
        if (type == null) {
          throw r.bad(
              "tensor '"
                  + name
                  + "': ggml type "
                  + typeId
                  + " is not supported (F32, F16, BF16,"
                  + " Q8_0, Q4_0, Q4_1)");
        }
        if (dims[0] % type.blockElements != 0) {
          throw r.bad(
              "tensor '" + name + "': rows of " + dims[0] + " are not whole " + type + " blocks");
        }
        if (elements > Integer.MAX_VALUE - 8) {
          throw r.bad("tensor '" + name + "': " + elements + " elements are too many");
        }
        offsets[i] = r.i64();
        infos.add(new Tensor(name, dims, type, 0));
      }
      long alignment = DEFAULT_ALIGNMENT;
      if (metadata.get("general.alignment") instanceof Long a) {
        if (a <= 0 || (a & (a - 1)) != 0) {
          throw r.bad("general.alignment " + a + " is not a power of two");
        }
        alignment = a;
      }
      long data = (r.position() + alignment - 1) / alignment * alignment;
      Map<String, Tensor> tensors = new LinkedHashMap<>();
      for (int i = 0; i < infos.size(); i++) {
        Tensor t = infos.get(i);
        long start = data + offsets[i];
        long end = start + t.type().bytes(t.elements());
        if (offsets[i] < 0 || offsets[i] % alignment != 0 || end > ch.size()) {
          throw r.bad(
              "tensor '"
                  + t.name()
                  + "': data at offset "
                  + offsets[i]
                  + " is misaligned or"
                  + " past the end of the file");
        }
        if (tensors.put(t.name(), new Tensor(t.name(), t.dims(), t.type(), start)) != null) {
          throw r.bad("tensor '" + t.name() + "' appears twice");
        }
      }
      return new Gguf(
          path, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(tensors));
    } catch (IOException e) {
      throw new UncheckedIOException(path + ": cannot be read", e);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(path + ": a tensor's size overflows", e);
    }
  }

  /**
   * A tensor dequantised to float32, row-major (see the class comment).
   *
   * @throws IllegalArgumentException naming the tensor if it is missing
   */
  public float[] floats(String name) {
    Tensor t = tensors.get(name);
    if (t == null) {
      throw new IllegalArgumentException(path + ": tensor '" + name + "' is missing");
    }
    int n = (int) t.elements();
    float[] out = new float[n];
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      ByteBuffer b =
          ch.map(FileChannel.MapMode.READ_ONLY, t.start(), t.type().bytes(n))
              .order(ByteOrder.LITTLE_ENDIAN);
      dequantise(t.type(), b, out);
    } catch (IOException e) {
      throw new UncheckedIOException(path + ": tensor '" + name + "' cannot be read", e);
    }
    return out;
  }

  /** ggml's block layouts: a scale (and for Q4_1 a minimum) in float16, then the quants. */
  static void dequantise(Type type, ByteBuffer b, float[] out) {
    switch (type) {
      case F32 -> b.asFloatBuffer().get(out);
      case F16 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = Float.float16ToFloat(b.getShort());
        }
      }
      case BF16 -> {
        for (int i = 0; i < out.length; i++) {
          out[i] = Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
        }
      }
      case Q8_0 -> {
        for (int block = 0; block < out.length; block += 32) {
          float d = Float.float16ToFloat(b.getShort());
          for (int j = 0; j < 32; j++) {
            out[block + j] = b.get() * d;
          }
        }
      }
      case Q4_0, Q4_1 -> {
        boolean withMin = type == Type.Q4_1;
        for (int block = 0; block < out.length; block += 32) {
          float d = Float.float16ToFloat(b.getShort());
          float m = withMin ? Float.float16ToFloat(b.getShort()) : -8 * d;
          // Byte j holds element j in its low nibble and element j + 16 in its high one.
          for (int j = 0; j < 16; j++) {
            int q = b.get() & 0xff;
            out[block + j] = (q & 0x0f) * d + m;
            out[block + j + 16] = (q >>> 4) * d + m;
          }
        }
      }
    }
  }

  /** Sequential little-endian reads of the header through a small window of the file. */
  private static final class Reader {
    private final FileChannel ch;
    private final Path path;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private long bufStart;

    Reader(FileChannel ch, Path path) throws IOException {
      this.ch = ch;
      this.path = path;
      buf.limit(0);
    }

    long position() {
      return bufStart + buf.position();
    }

    private void need(int n) throws IOException {
      if (buf.remaining() >= n) {
        return;
      }
      bufStart += buf.position();
      buf.compact();
      while (buf.position() < n) {
        int read = ch.read(buf, bufStart + buf.position());
        if (read < 0) {
          buf.flip();
          throw bad("the file ends inside its header");
        }
      }
      buf.flip();
    }

    int i32() throws IOException {
      need(4);
      return buf.getInt();
    }

    long i64() throws IOException {
      need(8);
      return buf.getLong();
    }

    long count(String what) throws IOException {
      long n = i64();
      if (n < 0 || n > MAX_COUNT) {
        throw bad(what + " " + n + " is not a sensible count");
      }
      return n;
    }

    String string(String what) throws IOException {
      long len = i64();
      if (len < 0 || len > ch.size() - position()) {
        throw bad(what + ": string length " + len + " runs past the end of the file");
      }
      byte[] bytes = new byte[(int) len];
      int at = 0;
      while (at < bytes.length) {
        need(1);
        int n = Math.min(buf.remaining(), bytes.length - at);
        buf.get(bytes, at, n);
        at += n;
      }
      return new String(bytes, StandardCharsets.UTF_8);
    }

    Object value(int type, String key) throws IOException {
      return switch (type) {
        case 0 -> { // uint8
          need(1);
          yield (long) (buf.get() & 0xff);
        }
        case 1 -> { // int8
          need(1);
          yield (long) buf.get();
        }
        case 2 -> { // uint16
          need(2);
          yield (long) (buf.getShort() & 0xffff);
        }
        case 3 -> { // int16
          need(2);
          yield (long) buf.getShort();
        }
        case 4 -> Integer.toUnsignedLong(i32());
        case 5 -> (long) i32();
        case 6 -> { // float32
          need(4);
          yield (double) buf.getFloat();
        }
        case 7 -> { // bool
          need(1);
          yield buf.get() != 0;
        }
        case 8 -> string(key);
        case 9 -> {
          int elementType = i32();
          long n = count(key + " array length");
          if (elementType == 9) {
            throw bad(key + ": arrays of arrays are not supported");
          }
          List<Object> list = new ArrayList<>((int) n);
          for (long i = 0; i < n; i++) {
            list.add(value(elementType, key));
          }
          yield Collections.unmodifiableList(list);
        }
        case 10, 11 -> i64(); // uint64, int64
        case 12 -> { // float64
          need(8);
          yield buf.getDouble();
        }
        default -> throw bad(key + ": unknown value type " + type);
      };
    }

    IllegalArgumentException bad(String why) {
      return new IllegalArgumentException(path + ": " + why);
    }
  }
}
