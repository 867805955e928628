package dev.lathe.sdk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lathe.contracts.WireJson;
import dev.lathe.contracts.checkpoint.Checkpoint;
import dev.lathe.contracts.checkpoint.MergedExportResponse;
import dev.lathe.contracts.diagnostics.AdapterDiagnosticsResponse;
import dev.lathe.contracts.model.Datum;
import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.sampling.SampleResponse;
import dev.lathe.contracts.sampling.SamplingParams;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.ForwardBackwardOutput;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.contracts.training.LossFnType;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Java SDK against the real server, started from the built jar for this class. */
class JavaSdkTest extends WithServer {
  ServiceClient service;

  @BeforeEach
  void connect() throws Exception {
    service =
        ServiceClient.builder(server.baseUrl, server.newApiKey("java-" + System.nanoTime()))
            .build();
  }

  static Datum datum(String text) {
    byte[] b = text.getBytes(StandardCharsets.US_ASCII);
    int[] tokens = new int[b.length - 1];
    long[] targets = new long[b.length - 1];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = b[i];
      targets[i] = b[i + 1];
    }
    return new Datum(
        ModelInput.ofTokens(tokens), Map.of("target_tokens", TensorData.ofLongs(targets)));
  }

  static double[] logprobs(ForwardBackwardOutput out, int i) {
    return out.lossFnOutputs().get(i).get("logprobs").denseValues();
  }

  @Test
  void trainsSavesAndSamples() {
    assertThat(service.capabilities().join().supportedModels().getFirst().modelName())
        .isEqualTo("lathe-tiny");
    TrainingClient training =
        service
            .createLoraTrainingClient("lathe-tiny", new LoraConfig(16, 3L, true, true, true))
            .join();
    List<Double> losses = new ArrayList<>();
    for (int step = 0; step < 40; step++) {
      var fb =
          training.forwardBackward(
              List.of(datum("lathe trains loras")), LossFnType.CROSS_ENTROPY, null);
      var opt = training.optimStep(AdamParams.ofLearningRate(5e-3));
      losses.add(fb.join().metrics().get("loss:sum"));
      assertThat(opt.join().metrics().get("step:max")).isEqualTo(step + 1.0);
    }
    assertThat(losses.getLast()).isLessThan(0.05 * losses.getFirst());

    SamplingClient sampler = training.saveWeightsAndGetSamplingClient("java-final").join();
    int[] prompt = "lathe".chars().toArray();
    SampleResponse out =
        sampler
            .sample(ModelInput.ofTokens(prompt), 2, new SamplingParams(6, 1L, null, 0.0, -1, 1.0))
            .join();
    assertThat(out.sequences()).hasSize(2);
    assertThat(out.sequences().getFirst().tokens()).isNotEmpty();

    // The sampler's prompt logprobs are the training run's forward logprobs.
    Datum d = datum("lathe trains loras");
    List<Double> lps =
        sampler.computeLogprobs(ModelInput.ofTokens("lathe trains loras".chars().toArray())).join();
    double[] fwd = logprobs(training.forward(List.of(d), LossFnType.CROSS_ENTROPY, null).join(), 0);
    assertThat(lps.getFirst()).isNull();
    for (int i = 0; i < fwd.length; i++) {
      assertThat(lps.get(i + 1)).isCloseTo(fwd[i], Offset.offset(1e-4));
    }
  }

  @Test
  void aBigBatchGoesInChunksAndComesBackAsOne() {
    TrainingClient training =
        service.createLoraTrainingClient("lathe-tiny", LoraConfig.ofRank(4)).join();
    List<Datum> data = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      data.add(datum("example " + i + " of five"));
    }
    ForwardBackwardOutput whole = training.forward(data, LossFnType.CROSS_ENTROPY, null).join();
    ForwardBackwardOutput chunked =
        training.chunkSize(2).forward(data, LossFnType.CROSS_ENTROPY, null).join();
    assertThat(chunked.lossFnOutputs()).hasSize(5);
    assertThat(chunked.metrics().get("loss:sum"))
        .isCloseTo(whole.metrics().get("loss:sum"), Offset.offset(1e-6));
    for (int i = 0; i < 5; i++) {
      assertThat(logprobs(chunked, i)).containsExactly(logprobs(whole, i));
    }
  }

  @Test
  void aCustomLossTrainsLikeItsBuiltInTwin() {
    LoraConfig config = new LoraConfig(8, 11L, true, true, true);
    TrainingClient custom = service.createLoraTrainingClient("lathe-tiny", config).join();
    TrainingClient builtin = service.createLoraTrainingClient("lathe-tiny", config).join();
    List<Datum> data = List.of(datum("lathe trains loras"), datum("many loras at once"));
    TrainingClient.CustomLoss nll =
        (batch, lps) -> {
          double loss = 0;
          List<double[]> grads = new ArrayList<>();
          for (double[] lp : lps) {
            loss -= Arrays.stream(lp).sum();
            double[] g = new double[lp.length];
            Arrays.fill(g, -1.0); // d(−Σ lp)/d lp
            grads.add(g);
          }
          return new TrainingClient.Gradient(loss, grads, Map.of("datums", (double) batch.size()));
        };
    for (int step = 0; step < 3; step++) {
      ForwardBackwardOutput out = custom.forwardBackwardCustom(data, nll).join();
      assertThat(out.metrics()).containsEntry("datums", 2.0).containsKey("loss:custom");
      custom.optimStep(AdamParams.ofLearningRate(1e-2)).join();
      builtin.forwardBackward(data, LossFnType.CROSS_ENTROPY, null).join();
      builtin.optimStep(AdamParams.ofLearningRate(1e-2)).join();
    }
    var a = custom.forward(data, LossFnType.CROSS_ENTROPY, null).join();
    var b = builtin.forward(data, LossFnType.CROSS_ENTROPY, null).join();
    for (int i = 0; i < 2; i++) {
      double[] x = logprobs(a, i);
      double[] y = logprobs(b, i);
      for (int j = 0; j < x.length; j++) {
        assertThat(x[j]).isCloseTo(y[j], Offset.offset(1e-4));
      }
    }
  }

  @Test
  void checkpointsListTtlPublishDownloadMergeDelete() throws Exception {
    TrainingClient training =
        service.createLoraTrainingClient("lathe-tiny", LoraConfig.ofRank(4)).join();
    String path = training.saveState("resume-me").join();
    RestClient rest = service.rest();
    List<Checkpoint> listed = rest.checkpoints(training.modelId()).join().checkpoints();
    assertThat(listed).extracting(Checkpoint::tinkerPath).containsExactly(path);
    assertThat(listed.getFirst().sizeBytes()).isPositive();
    rest.setTtl(path, 3600L).join();
    rest.publish(path).join();
    assertThat(rest.checkpoints(training.modelId()).join().checkpoints().getFirst().isPublic())
        .isTrue();
    List<String> names = tarNames(rest.downloadArchive(path).join());
    assertThat(names).anyMatch(n -> n.endsWith("adapter_model.safetensors"));
    long before = rest.checkpoints(training.modelId()).join().checkpoints().getFirst().sizeBytes();
    MergedExportResponse merged = rest.mergedExport(path).join();
    assertThat(merged.files()).contains("config.json", "model.safetensors");
    assertThat(tarNames(rest.downloadMergedArchive(path).join()))
        .containsExactlyElementsOf(merged.files());
    assertThat(rest.checkpoints(training.modelId()).join().checkpoints().getFirst().sizeBytes())
        .isEqualTo(before + merged.sizeBytes());
    training.loadState(path, true).join();
    rest.deleteCheckpoint(path).join();
    assertThat(rest.checkpoints(training.modelId()).join().checkpoints()).isEmpty();
  }

  private static List<String> tarNames(byte[] tar) throws java.io.IOException {
    List<String> names = new ArrayList<>();
    try (var in =
        new org.apache.commons.compress.archivers.tar.TarArchiveInputStream(
            new ByteArrayInputStream(tar))) {
      for (var e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
        names.add(e.getName());
      }
    }
    return names;
  }

  @Test
  void badInputIsRefusedBeforeSendingAndServerErrorsKeepTheirDetails() throws Exception {
    TrainingClient training =
        service.createLoraTrainingClient("lathe-tiny", LoraConfig.ofRank(4)).join();
    Datum nan =
        new Datum(
            ModelInput.ofTokens(1, 2),
            Map.of(
                "target_tokens",
                TensorData.ofLongs(2, 3),
                "weights",
                TensorData.ofFloats(1f, Float.NaN)));
    assertThatThrownBy(() -> training.forwardBackward(List.of(nan), LossFnType.CROSS_ENTROPY, null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("data[0].loss_fn_inputs.weights[1] is NaN");
    Datum shortTargets =
        new Datum(ModelInput.ofTokens(1, 2, 3), Map.of("target_tokens", TensorData.ofLongs(2)));
    assertThatThrownBy(
            () -> training.forward(List.of(shortTargets), LossFnType.CROSS_ENTROPY, null))
        .hasMessageContaining("data[0].loss_fn_inputs.target_tokens has 1 values for 3 tokens");

    Datum outOfVocab =
        new Datum(
            ModelInput.ofTokens(1, 99_999), Map.of("target_tokens", TensorData.ofLongs(2, 3)));
    assertThatThrownBy(
            () ->
                training
                    .forwardBackward(List.of(outOfVocab), LossFnType.CROSS_ENTROPY, null)
                    .join())
        .isInstanceOf(CompletionException.class)
        .cause()
        .isInstanceOfSatisfying(
            LatheException.class,
            e -> {
              assertThat(e.status()).isEqualTo(400);
              assertThat(e.field()).contains("model_input");
              assertThat(e.problem().get("status").asInt()).isEqualTo(400);
            });

    try (ServiceClient other =
        ServiceClient.builder(server.baseUrl, server.newApiKey("other-" + System.nanoTime()))
            .build()) {
      assertThatThrownBy(() -> other.rest().trainingRun(training.modelId()).join())
          .isInstanceOf(CompletionException.class)
          .cause()
          .isInstanceOfSatisfying(LatheException.class, e -> assertThat(e.status()).isEqualTo(404));
    }
    assertThatThrownBy(
            () -> ServiceClient.builder(server.baseUrl, "tml-not-a-key").maxRetries(0).build())
        .hasCauseInstanceOf(LatheException.class)
        .cause()
        .isInstanceOfSatisfying(LatheException.class, e -> assertThat(e.status()).isEqualTo(401));
  }

  /** The numbers themselves are checked against numpy in test_adapter_diagnostics.py. */
  @Test
  void adapterDiagnosticsSeeHowFarTrainingMovedTheAdapter() {
    TrainingClient training =
        service.createLoraTrainingClient("lathe-tiny", LoraConfig.ofRank(4)).join();
    String before = training.saveState("before").join();
    for (int step = 0; step < 5; step++) {
      training
          .forwardBackward(List.of(datum("diagnostics")), LossFnType.CROSS_ENTROPY, null)
          .join();
      training.optimStep(AdamParams.ofLearningRate(5e-2)).join();
    }
    String after = training.saveState("after").join();

    AdapterDiagnosticsResponse untouched = service.adapterDiagnostics(before, null, null).join();
    AdapterDiagnosticsResponse moved = service.adapterDiagnostics(after, 4, 0.9).join();
    assertThat(untouched.modules())
        .isNotEmpty()
        .allSatisfy(m -> assertThat(m.deltaNorm()).isZero());
    assertThat(moved.topK()).isEqualTo(4);
    assertThat(moved.modules())
        .hasSameSizeAs(untouched.modules())
        .allSatisfy(
            m -> {
              assertThat(m.deltaNorm()).isPositive();
              assertThat(m.singularValues())
                  .hasSize(4)
                  .isSortedAccordingTo((x, y) -> Double.compare(y, x));
              assertThat(m.intruderDimensions()).isBetween(0, 4);
            });
    assertThat(moved.layers()).isNotEmpty();
    AdapterDiagnosticsResponse live = training.adapterDiagnostics(4, 0.9).join();
    assertThat(live.modelId()).isEqualTo(training.modelId());
    assertThat(live.modules()).isEqualTo(moved.modules()); // nothing trained since the save

    // The forgetting probe: the same KL from the base model sent whole or in chunks.
    List<Datum> probe = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      probe.add(datum("probe " + i + " of what the base knew"));
    }
    ForwardBackwardOutput whole =
        training.forward(probe, LossFnType.CROSS_ENTROPY, null, true).join();
    ForwardBackwardOutput chunked =
        training.chunkSize(2).forward(probe, LossFnType.CROSS_ENTROPY, null, true).join();
    double mean = whole.metrics().get("kl_from_base:mean");
    assertThat(mean).isPositive();
    assertThat(chunked.metrics().get("kl_from_base:mean"))
        .isCloseTo(mean, Offset.offset(1e-6 * mean));
    assertThat(chunked.metrics().get("kl_from_base:sum"))
        .isCloseTo(whole.metrics().get("kl_from_base:sum"), Offset.offset(1e-6 * mean * 200));
    assertThat(chunked.lossFnOutputs()).allSatisfy(o -> assertThat(o).containsKey("kl_from_base"));

    assertThatThrownBy(() -> service.adapterDiagnostics(after, 0, null).join())
        .isInstanceOf(CompletionException.class)
        .cause()
        .isInstanceOfSatisfying(LatheException.class, e -> assertThat(e.field()).contains("top_k"));
  }

  @Test
  void theBaseModelsTokenizerComesFromTheServer() {
    String json = service.tokenizerJson("lathe-tiny").join();
    assertThat(WireJson.mapper().readTree(json).get("model").get("type").asString())
        .isEqualTo("BPE");
    assertThatThrownBy(() -> service.chatTemplate("lathe-tiny").join())
        .cause()
        .isInstanceOfSatisfying(LatheException.class, e -> assertThat(e.status()).isEqualTo(404));
  }
}
