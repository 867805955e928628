package dev.lathe.contracts.bench;

import com.github.luben.zstd.ZstdInputStream;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.proto.ProtoCodec;
import dev.lathe.contracts.training.ForwardBackwardRequest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Server-side decode time of one forward_backward body per codec, as the api decodes it: JSON by
 * Jackson into the wire records; protobuf (zstd-decompressed first for {@code protobuf+zstd}) by
 * {@link ProtoCodec} into the same records. Reads the files {@code json}, {@code protobuf} and
 * {@code protobuf+zstd} of a directory (bench/wire_codecs.py writes them) and prints, per codec,
 * the median seconds of 200 decodes after 100 of warm-up.
 */
public final class WireDecodeBenchmark {

  private WireDecodeBenchmark() {}

  interface Decoder {
    Object decode(byte[] body) throws IOException;
  }

  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args[0]);
    run("json", dir, b -> WireJson.mapper().readValue(b, ForwardBackwardRequest.class));
    run("protobuf", dir, ProtoCodec::decodeForwardBackward);
    run(
        "protobuf+zstd",
        dir,
        b -> {
          try (InputStream in = new ZstdInputStream(new ByteArrayInputStream(b))) {
            return ProtoCodec.decodeForwardBackward(in.readAllBytes());
          }
        });
  }

  private static void run(String name, Path dir, Decoder decoder) throws IOException {
    byte[] body = Files.readAllBytes(dir.resolve(name));
    Object sink = null;
    for (int i = 0; i < 100; i++) {
      sink = decoder.decode(body);
    }
    double[] seconds = new double[200];
    for (int i = 0; i < seconds.length; i++) {
      long start = System.nanoTime();
      sink = decoder.decode(body);
      seconds[i] = (System.nanoTime() - start) / 1e9;
    }
    Arrays.sort(seconds);
    System.out.println(name + " " + seconds[seconds.length / 2] + " " + (sink != null));
  }
}
