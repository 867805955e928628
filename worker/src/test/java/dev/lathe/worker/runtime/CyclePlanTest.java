package dev.lathe.worker.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Who joins a cycle's fused batch: fair shares of the token budget, bounded waits. */
class CyclePlanTest {

  /** A tenant's queue of forward_backward requests on one run. */
  private static final class Queue {
    final String tenant;
    final List<Claimed> requests = new ArrayList<>();
    final List<Integer> tokens = new ArrayList<>();

    Queue(String tenant, int count, int tokensEach) {
      this.tenant = tenant;
      for (int i = 0; i < count; i++) {
        requests.add(
            new Claimed(
                tenant + "/" + i,
                tenant,
                "run-" + tenant,
                null,
                i,
                "forward_backward",
                null,
                0,
                null));
        tokens.add(tokensEach);
      }
    }

    CyclePlan.Ready ready() {
      return new CyclePlan.Ready(tenant, "run-" + tenant, requests, tokens);
    }
  }

  /** Plans cycles until every queue is empty; returns the cycle (from 1) each request ran in. */
  private static Map<String, Integer> simulate(List<Queue> queues, long budget, int maxRuns) {
    Map<String, Integer> ranIn = new HashMap<>();
    for (int cycle = 1; queues.stream().anyMatch(q -> !q.requests.isEmpty()); cycle++) {
      List<CyclePlan.Ready> ready = new ArrayList<>();
      for (Queue q : queues) {
        ready.add(q.ready());
      }
      List<Claimed> plan = CyclePlan.plan(ready, budget, maxRuns, cycle);
      assertThat(plan).as("cycle %d makes progress", cycle).isNotEmpty();
      for (Claimed c : plan) {
        ranIn.put(c.id(), cycle);
        for (Queue q : queues) {
          int i = q.requests.indexOf(c);
          if (i >= 0) {
            assertThat(i).as("a run's requests go in seq order").isZero();
            q.requests.remove(i);
            q.tokens.remove(i);
          }
        }
      }
    }
    return ranIn;
  }

  @Test
  void aTenantWithTwentyTimesTheTokensDoesNotHoldTheOthersBack() {
    Queue big = new Queue("big", 40, 2000);
    List<Queue> small =
        List.of(new Queue("a", 4, 100), new Queue("b", 4, 100), new Queue("c", 4, 100));
    List<Queue> all = new ArrayList<>(small);
    all.addFirst(big);
    Map<String, Integer> ranIn = simulate(all, 8192, 8);

    // Each small tenant gets a quarter of the budget (2048 tokens): all 4 requests each cycle.
    for (Queue q :
        List.of("a", "b", "c").stream().map(t -> small.get(t.charAt(0) - 'a')).toList()) {
      for (int i = 0; i < 4; i++) {
        assertThat(ranIn.get(q.tenant + "/" + i)).as("%s/%d", q.tenant, i).isEqualTo(1);
      }
    }
    // The big tenant gets its quarter in cycle 1 (one request), then the whole budget (four).
    assertThat(ranIn.get("big/0")).isEqualTo(1);
    assertThat(ranIn.get("big/1")).isEqualTo(2);
    assertThat(ranIn.get("big/4")).isEqualTo(2);
    assertThat(ranIn.get("big/5")).isEqualTo(3);
    assertThat(ranIn.get("big/39")).isEqualTo(1 + 39 / 4 + 1);
  }

  @Test
  void smallTenantsArrivingBehindADeepQueueRunInTheNextCycle() {
    // 20 small tenants, 1 big; a small tenant's k-th request runs in cycle k at the latest.
    List<Queue> all = new ArrayList<>();
    all.add(new Queue("big", 100, 4000));
    for (int t = 0; t < 7; t++) {
      all.add(new Queue("t" + t, 5, 200));
    }
    Map<String, Integer> ranIn = simulate(all, 4096, 8);
    for (int t = 0; t < 7; t++) {
      for (int k = 0; k < 5; k++) {
        assertThat(ranIn.get("t" + t + "/" + k)).isLessThanOrEqualTo(k + 1);
      }
    }
  }

  @Test
  void moreRunsThanSlotsWaitAtMostCeilRunsOverSlotsCycles() {
    List<Queue> all = new ArrayList<>();
    for (int t = 0; t < 10; t++) {
      all.add(new Queue("t" + t, 1, 100));
    }
    Map<String, Integer> ranIn = simulate(all, 100_000, 3);
    Map<Integer, Integer> perCycle = new LinkedHashMap<>();
    ranIn.values().forEach(c -> perCycle.merge(c, 1, Integer::sum));
    assertThat(perCycle.values()).allMatch(n -> n <= 3);
    assertThat(ranIn.values()).allMatch(c -> c <= 4); // ⌈10 / 3⌉
  }

  @Test
  void aSingleRequestLargerThanTheBudgetStillRuns() {
    Map<String, Integer> ranIn = simulate(List.of(new Queue("huge", 2, 50_000)), 8192, 8);
    assertThat(ranIn).containsEntry("huge/0", 1).containsEntry("huge/1", 2);
  }
}
