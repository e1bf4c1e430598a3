package io.journeys.flink;

import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * Journey time, per Kafka partition: event time while its events flow, and wall-clock time from
 * the last event when they stop (as bytewax's EventClock does). A recorded file replays in event
 * time, and a live wait still fires on time when no traffic comes.
 *
 * <p>A partition's watermark = its newest event time - out-of-orderness + wall time since that
 * event arrived. A partition that has been quiet for the idle timeout is taken to be caught up: it
 * follows the most advanced partition of the same source in this JVM rather than holding the job
 * back at its own last event. Without that, a CDC table changed once hours ago (a snapshot, or a
 * backlog read after a restart) would hold every click back for those hours, since a partition
 * that has seen something never counts as idle (`follow`). A bounded run (`follow` false) does
 * without wall time and idleness altogether: its watermark is its records' time. A record
 * that then arrives behind the watermark
 * is late: the job applies it at once and counts it. A partition that has seen nothing since it was
 * assigned goes idle (or follows the others once some partition has a clock) after the start-up
 * patience (Flink's source operator makes each split's generator when
 * the split is assigned, so a partition slow to fetch holds journey time back meanwhile).
 *
 * <p>Partitions share their clock through a static map keyed by an id made when the job is
 * built, so every subtask in one task manager shares it; task managers on other machines each
 * keep their own, which is no worse than each partition on its own.
 */
public final class WallClockWatermarks<T> implements WatermarkGenerator<T> {
  /** source id -> the largest (event time - out-of-orderness - arrival wall time) seen so far. */
  private static final ConcurrentHashMap<String, AtomicLong> OFFSETS = new ConcurrentHashMap<>();

  private final long outOfOrdernessMs;
  private final long idleMs;
  private final long startupMs;
  private final boolean follow;
  private final AtomicLong shared;
  private long lastArrival = System.currentTimeMillis();
  private long newest = Long.MIN_VALUE;
  private long offset = Long.MIN_VALUE;
  private long emitted = Long.MIN_VALUE;

  WallClockWatermarks(
      long outOfOrdernessMs, long idleMs, long startupMs, boolean follow, String sourceId) {
    this.outOfOrdernessMs = outOfOrdernessMs;
    this.idleMs = idleMs;
    this.startupMs = startupMs;
    this.follow = follow;
    this.shared = OFFSETS.computeIfAbsent(sourceId, id -> new AtomicLong(Long.MIN_VALUE));
  }

  @Override
  public void onEvent(T event, long timestamp, WatermarkOutput output) {
    long now = System.currentTimeMillis();
    lastArrival = now;
    if (timestamp > newest) {
      newest = timestamp;
      offset = timestamp - outOfOrdernessMs - now;
      shared.accumulateAndGet(offset, Math::max);
    }
  }

  @Override
  public void onPeriodicEmit(WatermarkOutput output) {
    if (!follow) {
      // A bounded run (a backlog, a replay) is in event time alone: each partition holds journey
      // time at its newest record until it has delivered its next, or finished. Wall time and
      // idleness would let a partition that is merely slow (a cold start, a busy broker, a stall)
      // fall behind the others, make its records late, and so make the decisions depend on how
      // fast the job ran; a bounded partition ends, and the last watermark fires every wait.
      if (newest != Long.MIN_VALUE && newest - outOfOrdernessMs > emitted) {
        emitted = newest - outOfOrdernessMs;
        output.emitWatermark(new Watermark(emitted));
      }
      return;
    }
    long now = System.currentTimeMillis();
    // A partition that has delivered nothing since it was assigned is most often empty (a table
    // nobody changed); it may also be slow to start (a cold task manager, a fetch that has not
    // come back), and following the others then makes its backlog late. It is given the start-up
    // patience, which is short by default: while it waits, no wait of the job fires.
    long patience = newest == Long.MIN_VALUE ? startupMs : idleMs;
    boolean quiet = now - lastArrival > patience;
    long clock = offset;
    if (quiet && follow) {
      clock = Math.max(clock, shared.get());
    }
    if (clock == Long.MIN_VALUE) {
      if (quiet) {
        output.markIdle();
      }
      return;
    }
    long watermark = now + clock;
    if (watermark > emitted) {
      emitted = watermark;
      output.emitWatermark(new Watermark(watermark));
    }
  }

  /** A strategy for PyFlink: `WatermarkStrategy(jvm.io.journeys.flink.WallClockWatermarks.strategy(...))`. */
  public static <T> WatermarkStrategy<T> strategy(
      long outOfOrdernessMs, long idleMs, long startupMs, boolean follow) {
    String sourceId = UUID.randomUUID().toString();
    WatermarkGeneratorSupplier<T> supplier =
        context -> new WallClockWatermarks<>(outOfOrdernessMs, idleMs, startupMs, follow, sourceId);
    // PyFlink adds its own (Python) timestamp assigner; idleness is handled above
    return WatermarkStrategy.forGenerator(supplier);
  }
}
