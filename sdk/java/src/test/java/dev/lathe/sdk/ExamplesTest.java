package dev.lathe.sdk;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lathe.examples.CustomLoss;
import dev.lathe.examples.Rl;
import dev.lathe.examples.Sft;
import org.junit.jupiter.api.Test;

/** The Java examples run against a real server and learn (each returns 1 when it did not). */
class ExamplesTest extends WithServer {

  @Test
  void sftLearnsTheAnswers() throws Exception {
    assertThat(Sft.run(server.baseUrl, server.newApiKey("sft-java"), 80)).isZero();
  }

  @Test
  void rlRaisesTheMeanReward() throws Exception {
    assertThat(Rl.run(server.baseUrl, server.newApiKey("rl-java"), 40)).isZero();
  }

  @Test
  void aCustomLossFalls() throws Exception {
    assertThat(CustomLoss.run(server.baseUrl, server.newApiKey("custom-java"), 40)).isZero();
  }
}
