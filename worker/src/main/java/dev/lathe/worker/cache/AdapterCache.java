package dev.lathe.worker.cache;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.lathe.worker.engine.GradMode;
import dev.lathe.worker.lora.LoraAdapter;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where training runs' adapters live, in three tiers: a fixed number of resident slots in the
 * engine's device memory, an LRU of copies in host memory, and the adapter store on disk. A request
 * for an adapter that is not resident swaps it in, moving the least recently used resident one to
 * host memory and, when host memory is full too, the least recently used host copy to disk. An
 * adapter moves with its optimizer state and accumulated gradient, so nothing is lost on the way.
 *
 * <p>Used from the worker's engine thread only.
 */
public final class AdapterCache implements AutoCloseable {

  /** The disk tier: what the store lacks of a host copy is written, and read back on a miss. */
  public interface Disk {

    /** Persists what the run's snapshot does not hold of {@code adapter}. */
    void spill(String id, LoraAdapter.Host adapter) throws IOException;

    /** The adapter of a run from disk, or null if it has none. */
    LoraAdapter restore(String id) throws IOException;
  }

  /** Counters since start. */
  public record Stats(
      long hits,
      long hostHits,
      long misses,
      long evictions,
      long spills,
      long swapInNanos,
      long swapOutNanos,
      int resident,
      int host,
      long hostBytes) {}

  private final int slots;
  private final int hostSlots;
  private final NDManager manager;
  private final DataType dtype;
  private final Disk disk;
  private final LinkedHashMap<String, LoraAdapter> resident = new LinkedHashMap<>(16, 0.75f, true);
  private final LinkedHashMap<String, LoraAdapter.Host> host = new LinkedHashMap<>(16, 0.75f, true);
  private final AtomicLong hits = new AtomicLong();
  private final AtomicLong hostHits = new AtomicLong();
  private final AtomicLong misses = new AtomicLong();
  private final AtomicLong evictions = new AtomicLong();
  private final AtomicLong spills = new AtomicLong();
  private final AtomicLong swapInNanos = new AtomicLong();
  private final AtomicLong swapOutNanos = new AtomicLong();
  private volatile int residentCount;
  private volatile int hostCount;
  private volatile long hostBytes;

  /**
   * @param slots adapters resident in device memory at once (at least 1)
   * @param hostSlots adapters kept in host memory after leaving the device (0: straight to disk)
   */
  public AdapterCache(int slots, int hostSlots, NDManager manager, DataType dtype, Disk disk) {
    if (slots < 1 || hostSlots < 0) {
      throw new IllegalArgumentException(
          "adapter slots must be at least 1 and host slots at least 0, got "
              + slots
              + " and "
              + hostSlots);
    }
    this.slots = slots;
    this.hostSlots = hostSlots;
    this.manager = manager;
    this.dtype = dtype;
    this.disk = disk;
  }

  /** Resident slots. */
  public int slots() {
    return slots;
  }

  /**
   * The resident adapter of a run, swapped in from host memory or disk if need be, or null if the
   * run has none anywhere.
   */
  public LoraAdapter get(String id) throws IOException {
    LoraAdapter a = resident.get(id);
    if (a != null) {
      hits.incrementAndGet();
      return a;
    }
    long start = System.nanoTime();
    LoraAdapter.Host copy = host.remove(id);
    if (copy != null) {
      hostHits.incrementAndGet();
      GradMode.off();
      a = LoraAdapter.fromHost(copy, manager, dtype);
    } else {
      misses.incrementAndGet();
      a = disk.restore(id);
      if (a == null) {
        return null;
      }
    }
    swapInNanos.addAndGet(System.nanoTime() - start);
    makeResident(id, a);
    return a;
  }

  /** Whether a run's adapter is resident now. */
  public boolean isResident(String id) {
    return resident.containsKey(id);
  }

  /** Makes {@code adapter} the run's resident adapter, closing any it had. */
  public void put(String id, LoraAdapter adapter) throws IOException {
    remove(id);
    makeResident(id, adapter);
  }

  /** Whether a run's adapter is in memory (either tier). */
  public boolean inMemory(String id) {
    return resident.containsKey(id) || host.containsKey(id);
  }

  /**
   * Moves a run's adapter out of memory to the disk tier, with what the disk lacks of it (its
   * accumulated gradient); a later {@link #get} restores it.
   */
  public void unload(String id) throws IOException {
    LoraAdapter a = resident.remove(id);
    LoraAdapter.Host copy = host.remove(id);
    if (a != null) {
      copy = a.toHost();
      a.close();
    }
    if (copy != null) {
      spills.incrementAndGet();
      disk.spill(id, copy);
    }
    counts();
  }

  /** Forgets a run's adapter in every tier of memory (its files stay). */
  public void remove(String id) {
    LoraAdapter a = resident.remove(id);
    if (a != null) {
      a.close();
    }
    host.remove(id);
    counts();
  }

  public Stats stats() {
    return new Stats(
        hits.get(),
        hostHits.get(),
        misses.get(),
        evictions.get(),
        spills.get(),
        swapInNanos.get(),
        swapOutNanos.get(),
        residentCount,
        hostCount,
        hostBytes);
  }

  private void makeResident(String id, LoraAdapter adapter) throws IOException {
    resident.put(id, adapter);
    while (resident.size() > slots) {
      Map.Entry<String, LoraAdapter> eldest = resident.entrySet().iterator().next();
      resident.remove(eldest.getKey());
      evict(eldest.getKey(), eldest.getValue());
    }
    counts();
  }

  private void evict(String id, LoraAdapter adapter) throws IOException {
    long start = System.nanoTime();
    evictions.incrementAndGet();
    LoraAdapter.Host copy = adapter.toHost();
    adapter.close();
    host.put(id, copy);
    while (host.size() > hostSlots) {
      Map.Entry<String, LoraAdapter.Host> eldest = host.entrySet().iterator().next();
      host.remove(eldest.getKey());
      spills.incrementAndGet();
      disk.spill(eldest.getKey(), eldest.getValue());
    }
    swapOutNanos.addAndGet(System.nanoTime() - start);
  }

  private void counts() {
    residentCount = resident.size();
    hostCount = host.size();
    hostBytes = host.values().stream().mapToLong(LoraAdapter.Host::bytes).sum();
  }

  @Override
  public void close() {
    resident.values().forEach(LoraAdapter::close);
    resident.clear();
    host.clear();
    counts();
  }
}
