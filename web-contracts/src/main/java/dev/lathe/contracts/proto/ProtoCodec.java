package dev.lathe.contracts.proto;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.ModelInputChunk;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.model.TensorDtype;
import dev.lathe.contracts.proto.TinkerProto.ArrayRecord;
import dev.lathe.contracts.proto.TinkerProto.BatchedTensor;
import dev.lathe.contracts.proto.TinkerProto.Chunk;
import dev.lathe.contracts.proto.TinkerProto.DType;
import dev.lathe.contracts.proto.TinkerProto.LossConfigValue;
import dev.lathe.contracts.proto.TinkerProto.Tensor;
import dev.lathe.contracts.proto.TinkerProto.TopkLogprobs;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.sampling.SampledSequence;
import dev.lathe.contracts.sampling.StopReason;
import dev.lathe.contracts.sampling.TokenLogprob;
import dev.lathe.contracts.training.ForwardBackwardInput;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import dev.lathe.contracts.training.LossFnType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The protobuf codec of the current Tinker SDK ({@code tinker_public.proto}), mapped onto the same
 * wire records as the JSON protocol: a {@code forward_backward} body decodes into the input of a
 * {@code forward_backward} or {@code forward} call, and {@link ForwardBackwardOutput} and {@link
 * SampleResponse} encode as the SDK reads them. Numeric arrays travel as little-endian bytes
 * (numpy's {@code tobytes} on the SDK side).
 */
public final class ProtoCodec {

  /** The content type of protobuf bodies, requests and results alike. */
  public static final String MEDIA_TYPE = "application/x-protobuf";

  /** What the SDK puts in an empty top-k cell. */
  static final float MASK_LOGPROB = -99999.0f;

  private ProtoCodec() {}

  /** A decoded {@code forward_backward} body; {@code forward_only} makes it a {@code forward}. */
  public record ForwardBackward(
      String modelId, int seqId, boolean forwardOnly, ForwardBackwardInput input) {}

  /**
   * Decodes a {@code ForwardBackwardRequest} message.
   *
   * @throws ProtoException if the bytes are not such a message or a field cannot be read
   */
  public static ForwardBackward decodeForwardBackward(byte[] body) {
    TinkerProto.ForwardBackwardRequest msg;
    try {
      msg = TinkerProto.ForwardBackwardRequest.parseFrom(body);
    } catch (InvalidProtocolBufferException e) {
      throw new ProtoException(
          null, "body is not a valid tinker_public.ForwardBackwardRequest: " + e.getMessage());
    }
    if (msg.getModelId().isEmpty()) {
      // Also what bytes of some other message usually decode to.
      throw new ProtoException("model_id", "is required");
    }
    String field = msg.getForwardOnly() ? "forward_input" : "forward_backward_input";
    List<Datum> data = new ArrayList<>(msg.getDataCount());
    for (int d = 0; d < msg.getDataCount(); d++) {
      data.add(datum(msg.getData(d), field + ".data[" + d + "]"));
    }
    LossFnType loss = msg.getLossFn().isEmpty() ? null : lossFn(msg.getLossFn(), field);
    ForwardBackwardInput input = new ForwardBackwardInput(data, loss, lossFnConfig(msg, field));
    return new ForwardBackward(msg.getModelId(), msg.getSeqId(), msg.getForwardOnly(), input);
  }

  /**
   * Encodes a {@code forward}/{@code forward_backward} result as the SDK's proto reader takes it.
   */
  public static byte[] encode(ForwardBackwardOutput out) {
    TinkerProto.ForwardBackwardOutput.Builder msg =
        TinkerProto.ForwardBackwardOutput.newBuilder()
            .setLossFnOutputType(out.lossFnOutputType() == null ? "" : out.lossFnOutputType())
            .putAllMetrics(out.metrics());
    // One record per run of datums whose fields share dtype and trailing shape.
    List<Map<String, TensorData>> outputs = out.lossFnOutputs();
    int from = 0;
    for (int i = 1; i <= outputs.size(); i++) {
      if (i == outputs.size() || !layout(outputs.get(i)).equals(layout(outputs.get(from)))) {
        msg.addLossFnOutputs(record(outputs.subList(from, i), msg.getLossFnOutputType()));
        from = i;
      }
    }
    return msg.build().toByteArray();
  }

  /** Encodes a sampling result as the SDK's proto reader takes it. */
  public static byte[] encode(SampleResponse response) {
    TinkerProto.SampleResponse.Builder msg =
        TinkerProto.SampleResponse.newBuilder()
            .setPromptCacheHitTokens(response.promptCacheHitTokens());
    for (SampledSequence s : response.sequences()) {
      TinkerProto.SampledSequence.Builder seq =
          TinkerProto.SampledSequence.newBuilder()
              .setStopReason(
                  s.stopReason() == StopReason.STOP
                      ? TinkerProto.StopReason.STOP_REASON_STOP
                      : TinkerProto.StopReason.STOP_REASON_LENGTH)
              .setTokens(int32s(s.tokens()));
      if (s.logprobs() != null) {
        seq.setLogprobs(float32s(s.logprobs()));
      }
      if (s.topkLogprobs() != null) {
        seq.setTopkSampledLogprobs(topk(s.topkLogprobs()));
      }
      msg.addSequences(seq);
    }
    if (response.promptLogprobs() != null) {
      msg.setPromptLogprobs(float32s(response.promptLogprobs()));
    }
    if (response.topkPromptLogprobs() != null) {
      msg.setTopkPromptLogprobs(topk(response.topkPromptLogprobs()));
    }
    return msg.build().toByteArray();
  }

  // ---- decoding ----

  private static Datum datum(TinkerProto.Datum d, String at) {
    List<ModelInputChunk> chunks = new ArrayList<>(d.getModelInputCount());
    for (int c = 0; c < d.getModelInputCount(); c++) {
      chunks.add(chunk(d.getModelInput(c), at + ".model_input.chunks[" + c + "]"));
    }
    Map<String, TensorData> inputs = new LinkedHashMap<>();
    for (var e : new TreeMap<>(d.getLossFnInputsMap()).entrySet()) {
      inputs.put(e.getKey(), tensor(e.getValue(), at + ".loss_fn_inputs." + e.getKey()));
    }
    return new Datum(new ModelInput(chunks), inputs);
  }

  private static ModelInputChunk chunk(Chunk c, String at) {
    return switch (c.getChunkCase()) {
      case ENCODED_TEXT ->
          new ModelInputChunk.EncodedText(ints(c.getEncodedText().getTokens(), at));
      // Parsed so that validation refuses them by name, as on the JSON protocol.
      case IMAGE ->
          new ModelInputChunk.Image(
              null,
              c.getImage().getFormat(),
              c.getImage().hasExpectedTokens() ? c.getImage().getExpectedTokens() : null);
      case DMEL -> new ModelInputChunk.Dmel(null);
      case CHUNK_NOT_SET -> throw new ProtoException(at, "a chunk must be set");
    };
  }

  private static TensorData tensor(Tensor t, String at) {
    TensorDtype dtype =
        switch (t.getDtype()) {
          case DTYPE_FLOAT32, DTYPE_BFLOAT16 -> TensorDtype.FLOAT32;
          case DTYPE_INT64, DTYPE_INT32 -> TensorDtype.INT64;
          default -> throw new ProtoException(at + ".dtype", "must be float32 or int64");
        };
    List<Integer> shape = null;
    if (t.getShapeCount() > 0) {
      shape = new ArrayList<>(t.getShapeCount());
      for (long s : t.getShapeList()) {
        if (s < 0 || s > Integer.MAX_VALUE) {
          throw new ProtoException(at + ".shape", s + " is not a valid dimension");
        }
        shape.add((int) s);
      }
    }
    return switch (t.getEncodingCase()) {
      case DENSE ->
          new TensorData(values(t.getDense(), t.getDtype(), at), dtype, shape, null, null);
      case SPARSE_CSR ->
          new TensorData(
              values(t.getSparseCsr().getValues(), t.getDtype(), at + ".sparse_csr.values"),
              dtype,
              shape,
              indices(t.getSparseCsr().getCrowIndices(), at + ".sparse_csr.crow_indices"),
              indices(t.getSparseCsr().getColIndices(), at + ".sparse_csr.col_indices"));
      case ENCODING_NOT_SET -> new TensorData(List.of(), dtype, shape, null, null);
    };
  }

  private static List<Number> values(ByteString bytes, DType dtype, String at) {
    ByteBuffer b = le(bytes, width(dtype), at);
    int n = b.remaining() / width(dtype);
    List<Number> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      out.add(
          switch (dtype) {
            case DTYPE_FLOAT32 -> b.getFloat();
            case DTYPE_BFLOAT16 -> Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
            case DTYPE_INT64 -> b.getLong();
            default -> (long) b.getInt();
          });
    }
    return out;
  }

  private static List<Integer> indices(ByteString bytes, String at) {
    ByteBuffer b = le(bytes, 8, at);
    List<Integer> out = new ArrayList<>(b.remaining() / 8);
    while (b.hasRemaining()) {
      long v = b.getLong();
      if (v < 0 || v > Integer.MAX_VALUE) {
        throw new ProtoException(at, v + " is not a valid index");
      }
      out.add((int) v);
    }
    return out;
  }

  private static int[] ints(ByteString bytes, String at) {
    ByteBuffer b = le(bytes, 4, at + ".tokens");
    int[] out = new int[b.remaining() / 4];
    b.asIntBuffer().get(out);
    return out;
  }

  private static ByteBuffer le(ByteString bytes, int width, String at) {
    if (bytes.size() % width != 0) {
      throw new ProtoException(
          at, bytes.size() + " bytes is not a whole number of " + width + "-byte values");
    }
    return bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
  }

  private static int width(DType dtype) {
    return switch (dtype) {
      case DTYPE_FLOAT32, DTYPE_INT32 -> 4;
      case DTYPE_BFLOAT16 -> 2;
      default -> 8;
    };
  }

  private static LossFnType lossFn(String name, String field) {
    for (LossFnType t : LossFnType.values()) {
      if (t.wireName().equals(name)) {
        return t;
      }
    }
    throw new ProtoException(
        field + ".loss_fn",
        "'"
            + name
            + "' is not a loss Lathe runs ("
            + Arrays.toString(LossFnType.wireNames())
            + ")");
  }

  /** The v2 map when the SDK sent it (it writes both), else the legacy number map. */
  private static Map<String, Double> lossFnConfig(
      TinkerProto.ForwardBackwardRequest msg, String f) {
    if (msg.getLossFnConfigV2Count() == 0) {
      return msg.getLossFnConfigCount() == 0 ? null : new TreeMap<>(msg.getLossFnConfigMap());
    }
    Map<String, Double> config = new TreeMap<>();
    for (Map.Entry<String, LossConfigValue> e : msg.getLossFnConfigV2Map().entrySet()) {
      if (e.getValue().getValueCase() != LossConfigValue.ValueCase.NUMBER) {
        throw new ProtoException(
            f + ".loss_fn_config." + e.getKey(), "must be a number (Lathe's losses take numbers)");
      }
      config.put(e.getKey(), e.getValue().getNumber());
    }
    return config;
  }

  // ---- encoding ----

  /** Per field: dtype and trailing shape, which must agree within one ArrayRecord. */
  private static Map<String, List<Object>> layout(Map<String, TensorData> datum) {
    Map<String, List<Object>> out = new TreeMap<>();
    datum.forEach((k, t) -> out.put(k, List.of(t.dtype(), trailing(t))));
    return out;
  }

  private static List<Integer> trailing(TensorData t) {
    int[] shape = t.denseShape();
    List<Integer> out = new ArrayList<>();
    for (int i = 1; i < shape.length; i++) {
      out.add(shape[i]);
    }
    return out;
  }

  private static ArrayRecord record(List<Map<String, TensorData>> datums, String typeTag) {
    ArrayRecord.Builder record =
        ArrayRecord.newBuilder().setTypeTag(typeTag).setNumDatums(datums.size());
    for (String name : datums.getFirst().keySet()) {
      TensorData first = datums.getFirst().get(name);
      boolean floats = first.dtype() != TensorDtype.INT64;
      int width = floats ? 4 : 8;
      int total = 0;
      List<double[]> values = new ArrayList<>(datums.size());
      for (Map<String, TensorData> d : datums) {
        double[] v = d.get(name).denseValues();
        values.add(v);
        total += v.length;
      }
      ByteBuffer data = ByteBuffer.allocate(total * width).order(ByteOrder.LITTLE_ENDIAN);
      ByteBuffer offsets =
          ByteBuffer.allocate((datums.size() + 1) * 8).order(ByteOrder.LITTLE_ENDIAN);
      offsets.putLong(0);
      for (double[] v : values) {
        for (double x : v) {
          if (floats) {
            data.putFloat((float) x);
          } else {
            data.putLong((long) x);
          }
        }
        offsets.putLong(data.position());
      }
      BatchedTensor.Builder bt =
          BatchedTensor.newBuilder()
              .setData(ByteString.copyFrom(data.array()))
              .setOffsets(ByteString.copyFrom(offsets.array()))
              .setDtype(floats ? DType.DTYPE_FLOAT32 : DType.DTYPE_INT64);
      trailing(first).forEach(s -> bt.addTrailingShape(s));
      record.putFields(name, bt.build());
    }
    return record.build();
  }

  private static ByteString int32s(int[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(values);
    return ByteString.copyFrom(b.array());
  }

  /** float32 bytes; a missing entry (null) is NaN, as the SDK reads it. */
  private static ByteString float32s(List<Double> values) {
    ByteBuffer b = ByteBuffer.allocate(values.size() * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (Double v : values) {
      b.putFloat(v == null ? Float.NaN : v.floatValue());
    }
    return ByteString.copyFrom(b.array());
  }

  /** Dense length × k matrices; short rows and missing positions hold the SDK's sentinel. */
  private static TopkLogprobs topk(List<List<TokenLogprob>> rows) {
    int k = 0;
    for (List<TokenLogprob> row : rows) {
      k = Math.max(k, row == null ? 0 : row.size());
    }
    ByteBuffer ids = ByteBuffer.allocate(rows.size() * k * 4).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer lps = ByteBuffer.allocate(rows.size() * k * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (List<TokenLogprob> row : rows) {
      for (int j = 0; j < k; j++) {
        TokenLogprob t = row != null && j < row.size() ? row.get(j) : null;
        ids.putInt(t == null ? 0 : t.token());
        lps.putFloat(t == null ? MASK_LOGPROB : (float) t.logprob());
      }
    }
    return TopkLogprobs.newBuilder()
        .setTokenIds(ByteString.copyFrom(ids.array()))
        .setLogprobs(ByteString.copyFrom(lps.array()))
        .setK(k)
        .setLength(rows.size())
        .build();
  }
}
