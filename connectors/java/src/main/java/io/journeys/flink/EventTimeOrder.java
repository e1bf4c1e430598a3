package io.journeys.flink;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * A keyed stream in journey-time order, in the JVM: each record waits until the watermark passes
 * its time, and records of one key leave in time order (arrival order among equal times), so the
 * Python stage after it applies each record the moment it gets it, with no holding, no state of
 * its own for it and no timer per record.
 *
 * <p>In: {@code Row(key, time, value)}, keyed on the key, time in ms (the record's journey time,
 * which the upstream Python stage knows and Flink's timestamp does not). Out: {@code Row(key,
 * value)}, stamped with that time, for a Python keyed stage (partitioned on the first field, as
 * PyFlink's own key-by does). A record that is already behind the watermark leaves at once: it
 * is late, and counted ({@code late_records}).
 *
 * <p>Held records are list state, each with its arrival number: appending costs no read (a merge
 * in RocksDB), and a key has only the records of its last watermark lag pending, one timer per
 * distinct time.
 */
public final class EventTimeOrder extends KeyedProcessFunction<Row, Row, Row>
    implements ResultTypeQueryable<Row> {
  private static final long serialVersionUID = 1L;
  /** Time, then arrival: list state does not keep insertion order on every backend (RocksDB). */
  private static final Comparator<Row> BY_TIME_THEN_ARRIVAL =
      Comparator.<Row>comparingLong(row -> (Long) row.getField(1))
          .thenComparingLong(row -> (Long) row.getField(3));

  /** The first byte of a record let through late (jobs/stages/wire.py's LATE). */
  static final byte LATE = (byte) 0xFE;

  private final TypeInformation<Row> inType;
  private final TypeInformation<Row> outType;
  private final long ttlMs;
  private transient ListState<Row> pending;
  private transient Counter late;
  /** Arrival numbers; they start from the clock so that they keep rising across a restart. */
  private transient long arrivals;

  /**
   * @param inType {@code Row(STRING, LONG, value type)}
   * @param outType {@code Row(STRING, value type)}
   * @param ttlMs held records nobody released for this long are dropped (a key whose watermark
   *     never comes); far above any watermark lag
   */
  public EventTimeOrder(TypeInformation<Row> inType, TypeInformation<Row> outType, long ttlMs) {
    this.inType = inType;
    this.outType = outType;
    this.ttlMs = ttlMs;
  }

  @Override
  public void open(OpenContext context) {
    RowTypeInfo in = (RowTypeInfo) inType;
    TypeInformation<Row> held =
        new RowTypeInfo(
            in.getTypeAt(0), in.getTypeAt(1), in.getTypeAt(2), BasicTypeInfo.LONG_TYPE_INFO);
    ListStateDescriptor<Row> d = new ListStateDescriptor<>("pending", held);
    d.enableTimeToLive(
        StateTtlConfig.newBuilder(java.time.Duration.ofMillis(ttlMs))
            .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
            .build());
    pending = getRuntimeContext().getListState(d);
    late = getRuntimeContext().getMetricGroup().counter("late_records");
    arrivals = System.currentTimeMillis() << 20;
  }

  @Override
  public void processElement(Row row, Context ctx, Collector<Row> out) throws Exception {
    long time = (Long) row.getField(1);
    long watermark = ctx.timerService().currentWatermark();
    if (time <= watermark) {
      late.inc();
      out.collect(Row.of(row.getField(0), markedLate(row.getField(2), watermark)));
      return;
    }
    pending.add(Row.of(row.getField(0), time, row.getField(2), arrivals++));
    ctx.timerService().registerEventTimeTimer(time);
  }

  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<Row> out) throws Exception {
    List<Row> due = new ArrayList<>();
    List<Row> keep = new ArrayList<>();
    Iterable<Row> held = pending.get();
    if (held != null) {
      for (Row row : held) {
        ((Long) row.getField(1) <= timestamp ? due : keep).add(row);
      }
    }
    due.sort(BY_TIME_THEN_ARRIVAL);
    for (Row row : due) {
      out.collect(Row.of(row.getField(0), row.getField(2)));
    }
    if (keep.isEmpty()) {
      pending.clear();
    } else {
      pending.update(keep);
    }
  }

  /**
   * A record's bytes with {@link #LATE} and the watermark it came behind (8 bytes, big-endian)
   * before them: the Python stage learns that it is late, and the time to apply it at, without
   * a call back into the JVM for the watermark on every record (jobs/stages/wire.py).
   */
  static Object markedLate(Object value, long watermark) {
    if (!(value instanceof byte[])) {
      return value;
    }
    byte[] bytes = (byte[]) value;
    byte[] marked = new byte[bytes.length + 9];
    marked[0] = LATE;
    java.nio.ByteBuffer.wrap(marked, 1, 8).putLong(watermark);
    System.arraycopy(bytes, 0, marked, 9, bytes.length);
    return marked;
  }

  @Override
  public TypeInformation<Row> getProducedType() {
    return outType;
  }
}
