package dev.lathe.worker.runtime;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Which forward and forward_backward requests share one clock cycle's fused batch. Every tenant
 * with ready work gets an equal share of the cycle's token budget and its first request in any
 * case, so a tenant that sends a huge batch (or a deep queue) takes longer itself but never holds
 * another tenant back by more than one cycle. At most {@code maxRuns} training runs join a cycle
 * (the adapter cache's resident slots); which tenants go first rotates from cycle to cycle.
 *
 * <p>Bound: with at most {@code maxRuns} runs ready, every tenant's next ready request runs in the
 * next cycle; with more, within ⌈runs / maxRuns⌉ cycles.
 */
final class CyclePlan {

  /** A run's ready requests, in seq_id order, each with its token count. */
  record Ready(String tenantId, String modelId, List<Claimed> requests, List<Integer> tokens) {}

  private CyclePlan() {}

  /**
   * @param ready per run, the requests that may run now, in the order runs became ready
   * @param tokenBudget tokens one cycle aims to hold
   * @param maxRuns the most training runs one cycle may hold
   * @param rotation rotates which tenants are considered first (the cycle number)
   * @return the requests of this cycle, grouped by run, each run's in seq_id order
   */
  static List<Claimed> plan(List<Ready> ready, long tokenBudget, int maxRuns, long rotation) {
    Map<String, List<Ready>> byTenant = new LinkedHashMap<>();
    for (Ready r : ready) {
      if (!r.requests().isEmpty()) {
        byTenant.computeIfAbsent(r.tenantId(), k -> new ArrayList<>()).add(r);
      }
    }
    if (byTenant.isEmpty()) {
      return List.of();
    }
    List<String> tenants = new ArrayList<>(byTenant.keySet());
    java.util.Collections.rotate(tenants, (int) -(rotation % tenants.size()));
    long share = Math.max(1, tokenBudget / tenants.size());
    List<Claimed> out = new ArrayList<>();
    int runs = 0;
    for (String tenant : tenants) {
      long used = 0;
      for (Ready r : byTenant.get(tenant)) {
        if (runs == maxRuns || (used > 0 && used >= share)) {
          break;
        }
        runs++;
        for (int i = 0; i < r.requests().size(); i++) {
          int t = r.tokens().get(i);
          if (used > 0 && used + t > share) {
            break;
          }
          out.add(r.requests().get(i));
          used += t;
        }
      }
    }
    return out;
  }
}
