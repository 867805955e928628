package dev.lathe.contracts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lathe.contracts.model.ModelInput;
import dev.lathe.contracts.model.ModelInputChunk;
import dev.lathe.contracts.model.TensorData;
import dev.lathe.contracts.model.TensorDtype;
import dev.lathe.contracts.sampling.SampleRequest;
import dev.lathe.contracts.sampling.Stop;
import dev.lathe.contracts.training.AdamParams;
import dev.lathe.contracts.training.ForwardBackwardRequest;
import dev.lathe.contracts.training.LoraConfig;
import dev.lathe.contracts.training.LossFnType;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/** Defaults, unknown fields, bad values and the CSR form, beyond what the fixtures show. */
class WireRulesTest {

  static final JsonMapper JSON = WireJson.mapper();

  @Test
  void absentFieldsTakeTheSdkDefaults() {
    LoraConfig lora = JSON.readValue("{\"rank\": 8}", LoraConfig.class);
    assertThat(lora.trainAttn()).isTrue();
    assertThat(lora.trainMlp()).isTrue();
    assertThat(lora.trainUnembed()).isTrue();
    assertThat(lora.seed()).isNull();

    AdamParams adam = JSON.readValue("{}", AdamParams.class);
    assertThat(adam)
        .isEqualTo(new AdamParams(1e-4, 0.9, 0.95, 1e-12, 0.0, 0.0))
        .isEqualTo(AdamParams.ofLearningRate(1e-4));

    SampleRequest sample =
        JSON.readValue(
            "{\"prompt\": {\"chunks\": []}, \"sampling_params\": {}}", SampleRequest.class);
    assertThat(sample.numSamples()).isEqualTo(1);
    assertThat(sample.topkPromptLogprobs()).isZero();
    assertThat(sample.samplingParams().temperature()).isEqualTo(1.0);
    assertThat(sample.samplingParams().topK()).isEqualTo(-1);
    assertThat(sample.samplingParams().topP()).isEqualTo(1.0);
  }

  @Test
  void unknownFieldsAreIgnoredAndTypeIsWritten() {
    LoraConfig lora =
        JSON.readValue(
            "{\"rank\": 4, \"future_field\": {\"x\": 1}, \"type\": \"whatever\"}",
            LoraConfig.class);
    assertThat(lora.rank()).isEqualTo(4);
    String json =
        JSON.writeValueAsString(
            new SampleRequest(null, null, null, null, null, null, 1, null, null));
    assertThat(json).contains("\"type\":\"sample\"").doesNotContain("null");
  }

  @Test
  void badEnumValuesNameTheirField() {
    String body =
        "{\"model_id\": \"m\", \"forward_backward_input\": {\"data\": [], \"loss_fn\": \"mse\"}}";
    assertThatThrownBy(() -> JSON.readValue(body, ForwardBackwardRequest.class))
        .isInstanceOf(JacksonException.class)
        .hasMessageContaining("mse")
        .hasMessageContaining("loss_fn");
    assertThat(
            JSON.readValue(body.replace("mse", "dro"), ForwardBackwardRequest.class)
                .forwardBackwardInput()
                .lossFn())
        .isEqualTo(LossFnType.DRO);
  }

  @Test
  void unknownChunkTypesAreRefused() {
    assertThatThrownBy(
            () -> JSON.readValue("{\"chunks\": [{\"type\": \"video\"}]}", ModelInput.class))
        .isInstanceOf(JacksonException.class)
        .hasMessageContaining("video");
  }

  @Test
  void modelInputConcatenatesTextChunksAndRefusesImages() {
    ModelInput input =
        new ModelInput(
            List.of(
                new ModelInputChunk.EncodedText(new int[] {1, 2}),
                new ModelInputChunk.EncodedText(new int[] {3})));
    assertThat(input.tokens()).containsExactly(1, 2, 3);
    assertThat(input.length()).isEqualTo(3);
    ModelInput image = new ModelInput(List.of(new ModelInputChunk.Image("AAAA", "png", 4)));
    assertThatThrownBy(image::tokens)
        .hasMessageContaining("chunks[0]")
        .hasMessageContaining("image");
  }

  @Test
  void stopAcceptsOnlyItsThreeForms() {
    assertThat(Stop.of("\n")).isEqualTo(new Stop.Text("\n"));
    assertThat(Stop.of(List.of("a", "b"))).isEqualTo(new Stop.Texts(List.of("a", "b")));
    assertThat(Stop.of(List.of(1, 2))).isEqualTo(new Stop.Tokens(List.of(1, 2)));
    assertThatThrownBy(() -> Stop.of(List.of("a", 1))).hasMessageContaining("stop");
    assertThatThrownBy(() -> Stop.of(3.5)).hasMessageContaining("stop");
  }

  @Test
  void csrExpandsToTheDenseMatrix() {
    // [[0, 0, 1.0], [0.5, 0, 0]] written by hand, then in CSR form.
    TensorData sparse =
        new TensorData(
            List.of(1.0, 0.5), TensorDtype.FLOAT32, List.of(2, 3), List.of(0, 1, 2), List.of(2, 0));
    assertThat(sparse.denseValues()).containsExactly(0, 0, 1.0, 0.5, 0, 0);
    TensorData dense =
        new TensorData(List.of(1, 2, 3, 4, 5, 6), TensorDtype.INT64, List.of(2, 3), null, null);
    assertThat(dense.denseValues()).containsExactly(1, 2, 3, 4, 5, 6);
    assertThat(TensorData.ofFloats(0.5f, 1.5f).denseValues()).containsExactly(0.5, 1.5);
  }

  @Test
  void inconsistentTensorsAreRefusedWithTheField() {
    assertThatThrownBy(
            () ->
                new TensorData(List.of(1, 2, 3), TensorDtype.INT64, List.of(2, 2), null, null)
                    .denseValues())
        .hasMessageContaining("data has 3 values");
    assertThatThrownBy(
            () ->
                new TensorData(
                        List.of(1.0), TensorDtype.FLOAT32, List.of(2, 3), List.of(0, 1), List.of(0))
                    .denseValues())
        .hasMessageContaining("sparse_crow_indices");
    assertThatThrownBy(
            () ->
                new TensorData(
                        List.of(1.0),
                        TensorDtype.FLOAT32,
                        List.of(2, 3),
                        List.of(0, 1, 1),
                        List.of(7))
                    .denseValues())
        .hasMessageContaining("sparse_col_indices[0]");
    assertThatThrownBy(
            () ->
                new TensorData(List.of(), TensorDtype.FLOAT32, List.of(-1), null, null)
                    .denseValues())
        .hasMessageContaining("shape[0]");
  }
}
