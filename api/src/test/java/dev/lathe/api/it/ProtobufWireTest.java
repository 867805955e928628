package dev.lathe.api.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.luben.zstd.Zstd;
import com.google.protobuf.ByteString;
import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.proto.TinkerProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;
import tools.jackson.databind.JsonNode;

/**
 * The current Tinker SDK's wire over real HTTP: protobuf forward_backward, plain and zstd, gives
 * the same results as the JSON protocol; results come back as protobuf when asked for, every other
 * answer as JSON; broken bodies are refused by name and store nothing.
 */
class ProtobufWireTest extends ApiTestBase {

  static final String PROTOBUF = "application/x-protobuf";
  static final byte[] TEXT = "lathe trains loras".getBytes(StandardCharsets.US_ASCII);

  String key;
  String model;

  @BeforeEach
  void run() {
    key = newTenant("proto-" + System.nanoTime());
    model = newModel(key, newSession(key), 0, 8);
  }

  /** The SFT datum of {@link ApiTestBase#datum}, as the SDK encodes it. */
  static TinkerProto.Datum datum() {
    int n = TEXT.length - 1;
    ByteBuffer tokens = le(n * 4);
    ByteBuffer targets = le(n * 8);
    ByteBuffer weights = le(n * 4);
    for (int i = 0; i < n; i++) {
      tokens.putInt(TEXT[i]);
      targets.putLong(TEXT[i + 1]);
      weights.putFloat(1f);
    }
    return TinkerProto.Datum.newBuilder()
        .addModelInput(
            TinkerProto.Chunk.newBuilder()
                .setEncodedText(
                    TinkerProto.EncodedTextChunk.newBuilder()
                        .setTokens(ByteString.copyFrom(tokens.array()))))
        .putLossFnInputs("target_tokens", tensor(TinkerProto.DType.DTYPE_INT64, targets, n))
        .putLossFnInputs("weights", tensor(TinkerProto.DType.DTYPE_FLOAT32, weights, n))
        .build();
  }

  static TinkerProto.Tensor tensor(TinkerProto.DType dtype, ByteBuffer data, int n) {
    return TinkerProto.Tensor.newBuilder()
        .setDtype(dtype)
        .addShape(n)
        .setDense(ByteString.copyFrom(data.array()))
        .build();
  }

  static ByteBuffer le(int bytes) {
    return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
  }

  byte[] forwardBackward(int seq, boolean forwardOnly) {
    return TinkerProto.ForwardBackwardRequest.newBuilder()
        .setModelId(model)
        .setSeqId(seq)
        .setLossFn("cross_entropy")
        .setForwardOnly(forwardOnly)
        .addData(datum())
        .addData(datum())
        .build()
        .toByteArray();
  }

  Http.Raw send(byte[] body, String... headers) {
    return http.postBytes(key, "/api/v1/forward_backward", body, headers);
  }

  String requestId(Http.Raw accepted) {
    assertThat(accepted.status()).as(accepted.text()).isEqualTo(200);
    return WireJson.mapper().readTree(accepted.body()).get("request_id").asString();
  }

  TinkerProto.ForwardBackwardOutput protoResult(String requestId) throws Exception {
    Http.Raw r = http.resultAccepting(key, requestId, PROTOBUF);
    assertThat(r.contentType()).as(r.text()).startsWith(PROTOBUF);
    return TinkerProto.ForwardBackwardOutput.parseFrom(r.body());
  }

  static float[] logprobs(TinkerProto.ForwardBackwardOutput out, int datum) {
    TinkerProto.BatchedTensor t = out.getLossFnOutputs(0).getFieldsOrThrow("logprobs");
    ByteBuffer offsets = t.getOffsets().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    int from = (int) offsets.getLong(datum * 8);
    int to = (int) offsets.getLong((datum + 1) * 8);
    ByteBuffer data = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    float[] out2 = new float[(to - from) / 4];
    for (int i = 0; i < out2.length; i++) {
      out2[i] = data.getFloat(from + 4 * i);
    }
    return out2;
  }

  @Test
  void plainAndZstdProtobufGiveTheJsonProtocolsResults() throws Exception {
    // forward_only over protobuf, plain; then forward_backward, zstd; then forward over JSON.
    String forward = requestId(send(forwardBackward(1, true), "Content-Type", PROTOBUF));
    String backward =
        requestId(
            send(
                Zstd.compress(forwardBackward(2, false)),
                "Content-Type",
                PROTOBUF,
                "Content-Encoding",
                "zstd"));
    Http.Response json =
        http.post(
            key,
            "/api/v1/forward",
            Map.of(
                "model_id",
                model,
                "seq_id",
                3,
                "forward_input",
                Map.of("data", List.of(datum("lathe trains loras")), "loss_fn", "cross_entropy")));
    JsonNode expected = http.result(key, json.json().get("request_id").asString());

    TinkerProto.ForwardBackwardOutput f = protoResult(forward);
    TinkerProto.ForwardBackwardOutput fb = protoResult(backward);
    double loss = expected.get("metrics").get("loss:sum").asDouble();
    assertThat(f.getMetricsOrThrow("loss:sum")).isCloseTo(2 * loss, within(1e-4 * loss));
    assertThat(fb.getMetricsOrThrow("loss:sum")).isCloseTo(2 * loss, within(1e-4 * loss));
    assertThat(fb.getLossFnOutputs(0).getNumDatums()).isEqualTo(2);
    JsonNode want = expected.get("loss_fn_outputs").get(0).get("logprobs").get("data");
    for (TinkerProto.ForwardBackwardOutput out : List.of(f, fb)) {
      for (int d = 0; d < 2; d++) {
        float[] got = logprobs(out, d);
        assertThat(got).hasSize(want.size());
        for (int i = 0; i < got.length; i++) {
          assertThat((double) got[i]).isCloseTo(want.get(i).asDouble(), within(1e-5));
        }
      }
    }
    // The same future read by a JSON client is JSON.
    JsonNode asJson = http.result(key, backward);
    assertThat(asJson.get("loss_fn_outputs")).hasSize(2);
  }

  @Test
  void otherResultsStayJsonWhateverTheAcceptHeaderSays() throws Exception {
    Http.Response step = http.post(key, "/api/v1/optim_step", optimStep(model, 1, 1e-3));
    Http.Raw r = http.resultAccepting(key, step.json().get("request_id").asString(), PROTOBUF);
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.contentType()).startsWith("application/json");
    assertThat(WireJson.mapper().readTree(r.body()).get("metrics").has("step:max")).isTrue();

    Http.Response sample =
        http.post(
            key,
            "/api/v1/asample",
            Map.of(
                "prompt",
                Map.of("chunks", List.of(Map.of("type", "encoded_text", "tokens", List.of(1, 2)))),
                "num_samples",
                2,
                "base_model",
                "lathe-tiny",
                "topk_sample_logprobs",
                2,
                "sampling_params",
                Map.of("max_tokens", 3, "temperature", 0.0)));
    assertThat(sample.json().get("sample_sequence_ids")).hasSize(2);
    Http.Raw sampled =
        http.resultAccepting(key, sample.json().get("request_id").asString(), PROTOBUF);
    assertThat(sampled.contentType()).startsWith(PROTOBUF);
    TinkerProto.SampleResponse s = TinkerProto.SampleResponse.parseFrom(sampled.body());
    assertThat(s.getSequencesCount()).isEqualTo(2);
    TinkerProto.SampledSequence seq = s.getSequences(0);
    assertThat(seq.getTokens().size()).isEqualTo(3 * 4);
    assertThat(seq.getTopkSampledLogprobs().getK()).isEqualTo(2);
    assertThat(seq.getTopkSampledLogprobs().getLength()).isEqualTo(3);
  }

  /** Each refusal, and afterwards no request of this tenant stored. */
  @Test
  void brokenBodiesAreRefusedByNameAndStoreNothing() {
    byte[] good = forwardBackward(1, false);
    expect(
        send(Arrays.copyOf(good, good.length - 9), "Content-Type", PROTOBUF),
        400,
        "not a valid tinker_public.ForwardBackwardRequest");
    expect(
        send("not zstd at all".getBytes(), "Content-Type", PROTOBUF, "Content-Encoding", "zstd"),
        400,
        "body is not valid zstd");
    expect(
        send(good, "Content-Type", PROTOBUF, "Content-Encoding", "gzip"),
        415,
        "Content-Encoding: gzip is not supported");
    // A zstd bomb: a few kilobytes of frame that decode to 64 MB, far past the 200 kB limit.
    byte[] bomb = Zstd.compress(new byte[64 << 20], 19);
    assertThat(bomb.length).isLessThan(20_000);
    expect(
        send(bomb, "Content-Type", PROTOBUF, "Content-Encoding", "zstd"),
        413,
        "decoded request body is larger than 200000 bytes");
    expect(
        http.postBytes(
            key,
            "/api/v1/optim_step",
            Zstd.compress(good),
            "Content-Type",
            PROTOBUF,
            "Content-Encoding",
            "zstd"),
        415,
        "application/json");
    TinkerProto.ForwardBackwardRequest.Builder badTarget =
        TinkerProto.ForwardBackwardRequest.newBuilder()
            .setModelId(model)
            .setSeqId(1)
            .setLossFn("cross_entropy");
    TinkerProto.Datum.Builder d = datum().toBuilder();
    ByteBuffer targets = le((TEXT.length - 1) * 8);
    for (int i = 0; i < TEXT.length - 1; i++) {
      targets.putLong(i == 4 ? 1 << 20 : 1);
    }
    d.putLossFnInputs(
        "target_tokens", tensor(TinkerProto.DType.DTYPE_INT64, targets, TEXT.length - 1));
    expect(
        send(badTarget.addData(d).build().toByteArray(), "Content-Type", PROTOBUF),
        400,
        "forward_backward_input.data[0].loss_fn_inputs.target_tokens[4]");
    long stored =
        new JdbcTemplate(dataSource)
            .queryForObject(
                "SELECT count(*) FROM requests WHERE model_id = ? AND kind <> 'create_model'",
                Long.class,
                model);
    assertThat(stored).isZero();
  }

  static void expect(Http.Raw r, int status, String message) {
    assertThat(r.status()).as(r.text()).isEqualTo(status);
    assertThat(r.contentType()).startsWith("application/problem+json");
    assertThat(r.text()).contains(message);
  }

  static org.assertj.core.data.Offset<Double> within(double d) {
    return org.assertj.core.data.Offset.offset(d);
  }
}
