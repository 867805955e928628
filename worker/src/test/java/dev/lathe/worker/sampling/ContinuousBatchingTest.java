package dev.lathe.worker.sampling;

import static dev.lathe.worker.sampling.BatchedSamplingTest.prompt;
import static dev.lathe.worker.sampling.BatchedSamplingTest.trained;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lathe.worker.WithTinyModel;
import dev.lathe.worker.lora.LoraAdapter;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * Requests join a decode batch at token boundaries while others are mid-sample, and leave as soon
 * as they end; each still gets exactly what it gets alone.
 */
class ContinuousBatchingTest extends WithTinyModel {

  static Sampler.Request request(int[] prompt, int n, int max, double temperature, long seed) {
    return new Sampler.Request(
        prompt, n, max, temperature, -1, 1.0, seed, List.of(), null, false, 0);
  }

  @Test
  void requestsJoiningAndLeavingMidDecodeGetWhatTheyGetAlone() {
    try (LoraAdapter small = trained(4, 1);
        LoraAdapter large = trained(16, 2);
        DecodeBatch<String> batch = new DecodeBatch<>(base.llama(), manager)) {
      Map<String, Sampler.Job> jobs = new HashMap<>();
      jobs.put("a", new Sampler.Job(small, request(prompt(5, 1), 2, 30, 1.0, 5)));
      // Longer than a's cache when it joins: a's rows must shift right.
      jobs.put("b", new Sampler.Job(large, request(prompt(13, 2), 1, 8, 0.9, 6)));
      // Short: ends (and leaves) while a and b go on.
      jobs.put("c", new Sampler.Job(null, request(prompt(2, 3), 2, 3, 1.1, 7)));
      jobs.put("d", new Sampler.Job(small, request(prompt(7, 4), 3, 10, 0, 8)));

      Map<String, Sampler.Output> together = new HashMap<>();
      batch.admit("a", jobs.get("a"));
      for (int step = 0; step < 4; step++) {
        collect(batch.step(), together);
      }
      assertThat(batch.width()).as("a's cache before b joins").isEqualTo(5 + 4);
      batch.admit("b", jobs.get("b"));
      batch.admit("c", jobs.get("c"));
      assertThat(batch.rows()).isEqualTo(2 + 1 + 2);
      int widthWithB = 0;
      for (int step = 0; step < 5; step++) {
        collect(batch.step(), together);
        widthWithB = Math.max(widthWithB, batch.width());
      }
      assertThat(together).as("c ended, a and b go on").containsOnlyKeys("c");
      assertThat(batch.rows()).isEqualTo(3);
      batch.admit("d", jobs.get("d"));
      int rowsAfterB = -1;
      int widthAfterB = -1;
      while (!batch.isEmpty()) {
        collect(batch.step(), together);
        if (together.containsKey("b") && rowsAfterB < 0) {
          rowsAfterB = batch.rows();
          widthAfterB = batch.width();
        }
      }
      assertThat(together).containsOnlyKeys("a", "b", "c", "d");
      // b left before a and d ended, and with it the padding a and d no longer needed.
      assertThat(rowsAfterB).isEqualTo(2 + 3);
      assertThat(widthAfterB).isLessThan(widthWithB);

      for (var e : jobs.entrySet()) {
        Sampler.Job job = e.getValue();
        Sampler.Output alone = Sampler.sample(base.llama(), job.adapter(), job.request(), manager);
        Sampler.Output joined = together.get(e.getKey());
        assertThat(joined.sequences()).hasSameSizeAs(alone.sequences());
        for (int s = 0; s < alone.sequences().size(); s++) {
          Sampler.Sequence a = alone.sequences().get(s);
          Sampler.Sequence b = joined.sequences().get(s);
          assertThat(b.tokens()).as("%s sample %d", e.getKey(), s).containsExactly(a.tokens());
          assertThat(b.stopped()).isEqualTo(a.stopped());
          for (int t = 0; t < a.logprobs().length; t++) {
            assertThat(b.logprobs()[t])
                .as("%s sample %d token %d", e.getKey(), s, t)
                .isCloseTo(a.logprobs()[t], Offset.offset(1e-4f));
          }
        }
      }
    }
  }

  @Test
  void aRequestArrivingLateStillEndsFirstWhenItIsShort() {
    try (DecodeBatch<String> batch = new DecodeBatch<>(base.llama(), manager)) {
      batch.admit("long", new Sampler.Job(null, request(prompt(4, 1), 1, 40, 1.0, 1)));
      List<String> order = new java.util.ArrayList<>();
      for (int step = 0; !batch.isEmpty(); step++) {
        if (step == 3) {
          batch.admit("short", new Sampler.Job(null, request(prompt(6, 2), 1, 4, 1.0, 2)));
        }
        batch.step().forEach(f -> order.add(f.key()));
      }
      assertThat(order).containsExactly("short", "long");
    }
  }

  @Test
  void aStepThatFailsLeavesEveryUnfinishedRequestToFail() {
    LoraAdapter adapter = trained(4, 9);
    try (DecodeBatch<String> batch = new DecodeBatch<>(base.llama(), manager)) {
      batch.admit("one", new Sampler.Job(adapter, request(prompt(3, 1), 1, 2, 1.0, 1)));
      batch.admit("two", new Sampler.Job(adapter, request(prompt(4, 2), 2, 9, 1.0, 2)));
      assertThat(batch.step()).isEmpty();
      adapter.close(); // the next forward fails: its weights are gone
      assertThatThrownBy(batch::step).isInstanceOf(IllegalStateException.class);
      // "one" ended in the failed step before the forward threw, unreturned: both are reported.
      assertThat(batch.keys()).containsExactlyInAnyOrder("one", "two");
    }
  }

  @Test
  void theCacheTakesTheBytesForecastBeforeARequestJoins() {
    try (DecodeBatch<String> batch = new DecodeBatch<>(base.llama(), manager)) {
      Sampler.Request first = request(prompt(6, 1), 2, 20, 1.0, 1);
      long forecast = batch.cacheBytesWith(first);
      batch.admit("first", new Sampler.Job(null, first));
      batch.step();
      assertThat(batch.cacheBytes()).isEqualTo(forecast).isPositive();
      batch.step();
      // A wider prompt with a longer max_tokens joins: both dimensions grow.
      Sampler.Request second = request(prompt(11, 2), 3, 30, 1.0, 2);
      forecast = batch.cacheBytesWith(second);
      batch.admit("second", new Sampler.Job(null, second));
      batch.step();
      assertThat(batch.cacheBytes()).isEqualTo(forecast);
    }
  }

  private static void collect(
      List<DecodeBatch.Finished<String>> finished, Map<String, Sampler.Output> into) {
    finished.forEach(f -> into.put(f.key(), f.output()));
  }
}
