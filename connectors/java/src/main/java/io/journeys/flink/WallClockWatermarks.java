package io.journeys.flink;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * Journey time: event time while events flow, and wall-clock time from the last event when they
 * stop (as bytewax's EventClock does). A recorded file replays in event time, and a live wait
 * still fires on time when no traffic comes.
 *
 * <p>watermark = newest event time - out-of-orderness + wall time since that event arrived. A
 * subtask that has seen nothing for the idle timeout marks itself idle, so it never holds back
 * the others.
 */
public final class WallClockWatermarks<T> implements WatermarkGenerator<T> {
  private final long outOfOrdernessMs;
  private final long idleMs;
  private final long createdAt = System.currentTimeMillis();
  private long newest = Long.MIN_VALUE;
  private long arrivedAt;
  private long emitted = Long.MIN_VALUE;

  public WallClockWatermarks(long outOfOrdernessMs, long idleMs) {
    this.outOfOrdernessMs = outOfOrdernessMs;
    this.idleMs = idleMs;
  }

  @Override
  public void onEvent(T event, long timestamp, WatermarkOutput output) {
    if (timestamp > newest) {
      newest = timestamp;
      arrivedAt = System.currentTimeMillis();
    }
  }

  @Override
  public void onPeriodicEmit(WatermarkOutput output) {
    long now = System.currentTimeMillis();
    if (newest == Long.MIN_VALUE) {
      if (now - createdAt > idleMs) {
        output.markIdle();
      }
      return;
    }
    long watermark = newest - outOfOrdernessMs + (now - arrivedAt);
    if (watermark > emitted) {
      emitted = watermark;
      output.emitWatermark(new Watermark(watermark));
    }
  }

  /** A strategy for PyFlink: `WatermarkStrategy(jvm.io.journeys.flink.WallClockWatermarks.strategy(...))`. */
  public static <T> WatermarkStrategy<T> strategy(long outOfOrdernessMs, long idleMs) {
    WatermarkGeneratorSupplier<T> supplier =
        context -> new WallClockWatermarks<>(outOfOrdernessMs, idleMs);
    // PyFlink adds its own (Python) timestamp assigner; idleness is handled above
    return WatermarkStrategy.forGenerator(supplier);
  }
}
