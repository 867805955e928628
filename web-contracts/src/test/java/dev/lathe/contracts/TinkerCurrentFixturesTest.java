package dev.lathe.contracts;

import static dev.lathe.contracts.TinkerFixturesTest.assertEquivalent;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import dev.lathe.contracts.future.FutureRetrieveRequest;
import dev.lathe.contracts.future.FuturesRetrieveRequest;
import dev.lathe.contracts.proto.ProtoCodec;
import dev.lathe.contracts.proto.ProtoException;
import dev.lathe.contracts.proto.TinkerProto;
import dev.lathe.contracts.sampling.CreateSamplingSessionRequest;
import dev.lathe.contracts.sampling.SampleRequest;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.session.CreateSessionRequest;
import dev.lathe.contracts.system.ClientConfigRequest;
import dev.lathe.contracts.training.CreateModelRequest;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import dev.lathe.contracts.training.ForwardBackwardRequest;
import dev.lathe.contracts.training.ForwardRequest;
import dev.lathe.contracts.training.LoadWeightsRequest;
import dev.lathe.contracts.training.LossFnType;
import dev.lathe.contracts.training.OptimStepRequest;
import dev.lathe.contracts.training.SaveWeightsForSamplerRequest;
import dev.lathe.contracts.training.SaveWeightsRequest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The current official tinker SDK (0.38.0) against our records and protobuf codec. Fixtures come
 * from {@code src/test/python/make_tinker_current_fixtures.py} and {@code make_tinker_proto.py}:
 * the .proto we compile is the SDK's descriptor field for field; every protobuf forward_backward
 * the SDK sends decodes into the JSON protocol's request for the same call; every JSON request it
 * sends round-trips through our records. Our protobuf encoding of each result fixture is written to
 * {@code target/tinker-out-current/responses} for the SDK's own decoder (a pytest) to read.
 */
class TinkerCurrentFixturesTest {

  static final Path FIXTURES = Path.of("src/test/resources/tinker-current");
  static final Path OUT = Path.of("target/tinker-out-current/responses");
  static final JsonMapper JSON = WireJson.mapper();

  static final Map<String, Class<?>> JSON_REQUESTS =
      Map.ofEntries(
          Map.entry("client_config", ClientConfigRequest.class),
          Map.entry("create_session", CreateSessionRequest.class),
          Map.entry("create_model", CreateModelRequest.class),
          Map.entry("optim_step", OptimStepRequest.class),
          Map.entry("save_weights", SaveWeightsRequest.class),
          Map.entry("save_weights_for_sampler", SaveWeightsForSamplerRequest.class),
          Map.entry("load_weights", LoadWeightsRequest.class),
          Map.entry("create_sampling_session", CreateSamplingSessionRequest.class),
          Map.entry("sample", SampleRequest.class),
          Map.entry("retrieve_future", FutureRetrieveRequest.class),
          Map.entry("retrieve_futures", FuturesRetrieveRequest.class));

  static final Map<String, Class<?>> PROTO_RESPONSES =
      Map.of(
          "forward_backward", ForwardBackwardOutput.class,
          "forward_backward_ragged", ForwardBackwardOutput.class,
          "forward_backward_empty", ForwardBackwardOutput.class,
          "sample", SampleResponse.class,
          "sample_plain", SampleResponse.class);

  @Test
  void theFixturesAreOfThePinnedSdkAndAllCovered() throws IOException {
    assertThat(Files.readString(FIXTURES.resolve("SDK_VERSION")).strip()).isEqualTo("0.38.0");
    TreeSet<String> json = new TreeSet<>();
    TreeSet<String> proto = new TreeSet<>();
    try (Stream<Path> files = Files.list(FIXTURES.resolve("requests"))) {
      files.map(f -> f.getFileName().toString()).forEach(n -> file(n, json, proto));
    }
    assertThat(json).isEqualTo(new TreeSet<>(JSON_REQUESTS.keySet()));
    assertThat(proto).isEqualTo(new TreeSet<>(protoRequests().map(a -> a.get()[0]).toList()));
    try (Stream<Path> files = Files.list(FIXTURES.resolve("responses"))) {
      assertThat(files.map(f -> f.getFileName().toString().replace(".json", "")))
          .containsExactlyInAnyOrderElementsOf(PROTO_RESPONSES.keySet());
    }
  }

  private static void file(String name, TreeSet<String> json, TreeSet<String> proto) {
    if (name.endsWith(".pb")) {
      proto.add(name.replace(".pb", ""));
    } else if (!name.endsWith(".expected.json")) {
      json.add(name.replace(".json", ""));
    }
  }

  /** What protoc made of our .proto is the SDK's descriptor, but for the Java options we add. */
  @Test
  void theCompiledProtoIsTheSdksDescriptor() throws IOException {
    FileDescriptorProto sdk =
        FileDescriptorProto.parseFrom(
            Files.readAllBytes(FIXTURES.resolve("tinker_public.descriptor.pb")));
    FileDescriptorProto ours = TinkerProto.getDescriptor().toProto();
    assertThat(comparable(ours)).isEqualTo(comparable(sdk));
    assertThat(ours.getMessageTypeCount()).isEqualTo(23);
  }

  private static FileDescriptorProto comparable(FileDescriptorProto file) {
    FileDescriptorProto.Builder b = file.toBuilder().clearOptions().clearSyntax();
    for (DescriptorProto.Builder m : b.getMessageTypeBuilderList()) {
      stripJsonNames(m);
    }
    return b.build();
  }

  private static void stripJsonNames(DescriptorProto.Builder m) {
    for (FieldDescriptorProto.Builder f : m.getFieldBuilderList()) {
      f.clearJsonName();
    }
    for (DescriptorProto.Builder nested : m.getNestedTypeBuilderList()) {
      stripJsonNames(nested);
    }
  }

  static Stream<Arguments> protoRequests() {
    return Stream.of(
        Arguments.of("forward_backward_cross_entropy"),
        Arguments.of("forward_backward_ppo"),
        Arguments.of("forward_sparse"));
  }

  @ParameterizedTest(name = "protobuf {0}")
  @MethodSource("protoRequests")
  void protobufForwardBackwardDecodesIntoTheJsonRequest(String name) throws IOException {
    ProtoCodec.ForwardBackward call =
        ProtoCodec.decodeForwardBackward(Files.readAllBytes(request(name + ".pb")));
    Object asJson =
        call.forwardOnly()
            ? new ForwardRequest(call.input(), call.modelId(), call.seqId())
            : new ForwardBackwardRequest(call.input(), call.modelId(), call.seqId());
    JsonNode expected = JSON.readTree(request(name + ".expected.json").toFile());
    assertEquivalent(JSON.valueToTree(asJson), expected, name);
  }

  @ParameterizedTest(name = "json {0}")
  @ValueSource(
      strings = {
        "client_config",
        "create_session",
        "create_model",
        "optim_step",
        "save_weights",
        "save_weights_for_sampler",
        "load_weights",
        "create_sampling_session",
        "sample",
        "retrieve_future",
        "retrieve_futures"
      })
  void jsonRequestsRoundTrip(String name) throws IOException {
    JsonNode sent = JSON.readTree(request(name + ".json").toFile());
    Object parsed = JSON.treeToValue(sent, JSON_REQUESTS.get(name));
    assertEquivalent(JSON.valueToTree(parsed), sent, name);
  }

  @Test
  void protobufResultsAreWrittenForTheSdkToRead() throws IOException {
    Files.createDirectories(OUT);
    for (var e : PROTO_RESPONSES.entrySet()) {
      Object result =
          JSON.readValue(
              FIXTURES.resolve("responses/" + e.getKey() + ".json").toFile(), e.getValue());
      byte[] proto =
          result instanceof SampleResponse s
              ? ProtoCodec.encode(s)
              : ProtoCodec.encode((ForwardBackwardOutput) result);
      Files.write(OUT.resolve(e.getKey() + ".pb"), proto);
    }
    // The ragged outputs need one record per run of equal trailing shapes: [2], then [3] twice.
    TinkerProto.ForwardBackwardOutput ragged =
        TinkerProto.ForwardBackwardOutput.parseFrom(
            Files.readAllBytes(OUT.resolve("forward_backward_ragged.pb")));
    assertThat(ragged.getLossFnOutputsList())
        .extracting(TinkerProto.ArrayRecord::getNumDatums)
        .containsExactly(1L, 2L);
    assertThat(ragged.getLossFnOutputs(1).getFieldsOrThrow("scores").getTrailingShapeList())
        .containsExactly(3L);
  }

  @Test
  void lossNamesAreTheJsonNames() {
    for (LossFnType t : LossFnType.values()) {
      assertThat(JSON.writeValueAsString(t)).isEqualTo("\"" + t.wireName() + "\"");
    }
  }

  @Test
  void truncatedOrGarbageBytesAreRefusedAsABody() throws IOException {
    byte[] good = Files.readAllBytes(request("forward_backward_cross_entropy.pb"));
    assertThatThrownBy(() -> ProtoCodec.decodeForwardBackward(Arrays.copyOf(good, good.length - 7)))
        .isInstanceOf(ProtoException.class)
        .hasMessageContaining("not a valid tinker_public.ForwardBackwardRequest")
        .extracting(e -> ((ProtoException) e).field())
        .isNull();
    byte[] garbage = new byte[256];
    new java.util.Random(7).nextBytes(garbage);
    assertThatThrownBy(() -> ProtoCodec.decodeForwardBackward(garbage))
        .isInstanceOf(ProtoException.class);
    assertThatThrownBy(() -> ProtoCodec.decodeForwardBackward(new byte[0]))
        .isInstanceOf(ProtoException.class)
        .hasMessage("model_id: is required");
  }

  @Test
  void badArraysNameTheirField() throws IOException {
    TinkerProto.ForwardBackwardRequest good =
        TinkerProto.ForwardBackwardRequest.parseFrom(
            Files.readAllBytes(request("forward_backward_cross_entropy.pb")));

    TinkerProto.ForwardBackwardRequest.Builder oddTokens = good.toBuilder();
    oddTokens
        .getDataBuilder(1)
        .getModelInputBuilder(0)
        .getEncodedTextBuilder()
        .setTokens(ByteString.copyFrom(new byte[] {1, 0, 0, 0, 2, 0}));
    assertField(
        oddTokens.build(),
        "forward_backward_input.data[1].model_input.chunks[0].tokens",
        "6 bytes is not a whole number of 4-byte values");

    TinkerProto.ForwardBackwardRequest.Builder noDtype = good.toBuilder();
    noDtype
        .getDataBuilder(0)
        .putLossFnInputs(
            "weights",
            good.getData(0).getLossFnInputsOrThrow("weights").toBuilder()
                .setDtype(TinkerProto.DType.DTYPE_UNSPECIFIED)
                .build());
    assertField(
        noDtype.build(),
        "forward_backward_input.data[0].loss_fn_inputs.weights.dtype",
        "must be float32 or int64");

    TinkerProto.ForwardBackwardRequest.Builder negativeIndex = good.toBuilder();
    negativeIndex
        .getDataBuilder(0)
        .putLossFnInputs(
            "weights",
            TinkerProto.Tensor.newBuilder()
                .setDtype(TinkerProto.DType.DTYPE_FLOAT32)
                .addShape(1)
                .addShape(4)
                .setSparseCsr(
                    TinkerProto.SparseCsr.newBuilder()
                        .setValues(ByteString.copyFrom(new byte[4]))
                        .setCrowIndices(longs(0, 1))
                        .setColIndices(longs(-3)))
                .build());
    assertField(
        negativeIndex.build(),
        "forward_backward_input.data[0].loss_fn_inputs.weights.sparse_csr.col_indices",
        "-3 is not a valid index");

    assertField(
        good.toBuilder().setLossFn("custom").build(),
        "forward_backward_input.loss_fn",
        "'custom' is not a loss Lathe runs");
    assertField(
        good.toBuilder()
            .putLossFnConfigV2(
                "kl_coeff", TinkerProto.LossConfigValue.newBuilder().setText("auto").build())
            .build(),
        "forward_backward_input.loss_fn_config.kl_coeff",
        "must be a number");
  }

  @Test
  void bfloat16AndInt32InputsWidenAsTheSdkReadsThem() {
    TinkerProto.ForwardBackwardRequest msg =
        TinkerProto.ForwardBackwardRequest.newBuilder()
            .setModelId("run-1")
            .setSeqId(1)
            .setLossFn("cross_entropy")
            .addData(
                TinkerProto.Datum.newBuilder()
                    .putLossFnInputs(
                        "weights",
                        TinkerProto.Tensor.newBuilder()
                            .setDtype(TinkerProto.DType.DTYPE_BFLOAT16)
                            // 1.5 and -2.0 in bfloat16: the upper halves of their float32 bits.
                            .setDense(ByteString.copyFrom(new byte[] {(byte) 0xC0, 0x3F, 0, -64}))
                            .build())
                    .putLossFnInputs(
                        "target_tokens",
                        TinkerProto.Tensor.newBuilder()
                            .setDtype(TinkerProto.DType.DTYPE_INT32)
                            .setDense(ByteString.copyFrom(new byte[] {5, 0, 0, 0, -1, -1, -1, 127}))
                            .build()))
            .build();
    var inputs = ProtoCodec.decodeForwardBackward(msg.toByteArray()).input().data().get(0);
    assertThat(inputs.lossFnInputs().get("weights").denseValues()).containsExactly(1.5, -2.0);
    assertThat(inputs.lossFnInputs().get("target_tokens").denseValues())
        .containsExactly(5.0, (double) Integer.MAX_VALUE);
  }

  private static void assertField(
      TinkerProto.ForwardBackwardRequest msg, String field, String message) {
    assertThatThrownBy(() -> ProtoCodec.decodeForwardBackward(msg.toByteArray()))
        .isInstanceOf(ProtoException.class)
        .hasMessageContaining(message)
        .extracting(e -> ((ProtoException) e).field())
        .isEqualTo(field);
  }

  private static ByteString longs(long... values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (long v : values) {
      b.putLong(v);
    }
    return ByteString.copyFrom(b.array());
  }

  private static Path request(String file) {
    return FIXTURES.resolve("requests/" + file);
  }
}
