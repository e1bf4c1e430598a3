package io.journeys.flink;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.util.clock.RelativeClock;
import org.apache.flink.util.clock.SystemClock;
import org.apache.kafka.common.TopicPartition;

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
 * <p>Wall time moves a partition's journey time on only when the partition has delivered all it
 * has ({@link LogEnds}: its last record is at the end of its committed log). A partition whose
 * records the consumer has not come to yet (a backlog drained one partition's fetch after the
 * other) stays at its newest record's time, however long it waits: had wall time moved it, or
 * had it followed the others, its own records would come behind journey time, late, and be
 * decided at the wrong moment (a million-wait benchmark saw waits end minutes late that way).
 * One that never comes to the end of its log (aborted transactions at its tail) is let go after
 * {@link #STUCK_MS} of input activity; a broker that cannot be asked leaves the rule out.
 *
 * <p>Patience is counted on Flink's input activity clock, which stops while the source is
 * back-pressured: a partition waiting its turn behind a slow job is not idle.
 *
 * <p>Partitions share their clock through a static map keyed by an id made when the job is
 * built, so every subtask in one task manager shares it; task managers on other machines each
 * keep their own, which is no worse than each partition on its own.
 */
public final class WallClockWatermarks<T> implements WatermarkGenerator<T> {
  /** source id -> the most advanced journey time a partition of it has emitted. */
  private static final ConcurrentHashMap<String, AtomicLong> SHARED = new ConcurrentHashMap<>();
  /** Input activity after which a partition that never reaches its log's end counts as done. */
  static final long STUCK_MS = 60_000;
  /** Input activity after which a partition that has delivered nothing stops waiting for it. */
  static final long FIRST_RECORDS_MS = 60_000;

  private final long outOfOrdernessMs;
  private final long idleMs;
  private final long startupMs;
  private final boolean follow;
  private final String sourceId;
  /** Kafka client properties to ask where the logs end; null: not asked (all taken as done). */
  private final Map<String, String> kafka;
  private final List<String> topics;
  private final String group;
  private final int readers;
  /** This generator's reader (the source subtask), -1 when not known. */
  private final int reader;
  private final AtomicLong shared;
  private final RelativeClock activity;
  /** The generators of this one's source reader (one subtask's attempt): how many speak for a split. */
  private final Splits splits;
  /** Whether this generator has found out whose output it writes to (its first periodic emit). */
  private boolean placed;
  private long lastArrival = System.currentTimeMillis();
  /** When the newest record (by time) arrived: journey time runs on by wall time from there. */
  private long newestArrival;
  private long lastActivity;
  private long newest = Long.MIN_VALUE;
  private long emitted = Long.MIN_VALUE;
  private TopicPartition partition;
  private long lastOffset = -1;

  WallClockWatermarks(
      long outOfOrdernessMs,
      long idleMs,
      long startupMs,
      boolean follow,
      String sourceId,
      Map<String, String> kafka,
      List<String> topics,
      String group,
      int readers,
      int reader,
      RelativeClock activity,
      Splits splits) {
    this.outOfOrdernessMs = outOfOrdernessMs;
    this.idleMs = idleMs;
    this.startupMs = startupMs;
    this.follow = follow;
    this.sourceId = sourceId;
    this.kafka = kafka;
    this.topics = topics;
    this.group = group;
    this.readers = readers;
    this.reader = reader;
    this.activity = activity;
    this.splits = splits;
    this.lastActivity = activity.relativeTimeMillis();
    this.shared = SHARED.computeIfAbsent(sourceId, id -> new AtomicLong(Long.MIN_VALUE));
  }

  @Override
  public void onEvent(T event, long timestamp, WatermarkOutput output) {
    lastArrival = System.currentTimeMillis();
    lastActivity = activity.relativeTimeMillis();
    if (event instanceof byte[]) {
      located((byte[]) event);
    }
    if (timestamp > newest) {
      newest = timestamp;
      newestArrival = lastArrival;
    }
  }

  /** The partition and offset of a record frame (RecordFrameDeserializer's layout). */
  private void located(byte[] frame) {
    if (frame.length < 3 || frame[0] != 1) {
      return;
    }
    ByteBuffer b = ByteBuffer.wrap(frame);
    int topicLength = b.getShort(1) & 0xFFFF;
    int at = 3 + topicLength;
    if (frame.length < at + 12) {
      return;
    }
    if (partition == null) {
      String topic = new String(frame, 3, topicLength, StandardCharsets.UTF_8);
      partition = new TopicPartition(topic, b.getInt(at));
      if (kafka != null) {
        ends().end(partition); // claimed: the others of its reader stop waiting for it
      }
    }
    lastOffset = b.getLong(at + 4);
  }

  /**
   * Whether the partition has delivered all its committed log holds. A commit marker may follow
   * the last record (transactional producers), so one offset short of the end counts as the end.
   */
  private boolean done(long quietActivity) {
    if (kafka == null || partition == null) {
      return true;
    }
    long end = ends().end(partition);
    if (end == LogEnds.UNAVAILABLE) {
      return true;
    }
    return (end != LogEnds.UNKNOWN && lastOffset + 2 >= end) || quietActivity > STUCK_MS;
  }

  private LogEnds ends() {
    return LogEnds.of(sourceId, kafka, topics, group, readers);
  }

  /**
   * Whether a partition that has delivered nothing may be about to: a backlog's first records
   * can come long after the start when the consumer drains other partitions' fetches first, and
   * had it gone idle or followed the others, all of them would be late.
   */
  private boolean firstRecordsComing(long quietActivity) {
    return kafka != null && quietActivity <= FIRST_RECORDS_MS && ends().firstRecordsComing(reader);
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
    boolean readers = readersOwn(output);
    if (!placed) {
      placed = true;
      if (!readers) {
        splits.count++;
      }
    }
    if (readers && newest == Long.MIN_VALUE) {
      // The source reader's own generator, not a partition's: Flink makes one for the reader's
      // main output besides one per split, and what it emits goes downstream past the minimum
      // over the splits. The Kafka source emits every record through its split's output, so
      // this one never sees a record. Had it followed the others, the source's watermark would
      // have been its most advanced partition's, and the rest of every other partition's
      // backlog late: a timer benchmark saw half its entries late. So it says nothing while the
      // reader has partitions (Flink takes a silent main output as idle, and the reader idle
      // only when its partitions are too), and marks a reader that has none idle after the
      // start-up patience, so that it does not hold the job back (a parallelism above the
      // partition count).
      if (splits.count == 0 && activity.relativeTimeMillis() - lastActivity > startupMs) {
        output.markIdle();
      }
      return;
    }
    long quietActivity = activity.relativeTimeMillis() - lastActivity;
    long clock;
    if (newest == Long.MIN_VALUE) {
      // A partition that has delivered nothing since it was assigned is most often empty (a table
      // nobody changed); it may also be slow to start (a cold task manager, a fetch that has not
      // come back), and following the others then makes its backlog late. It is given the
      // start-up patience, which is short by default: while it waits, no wait of the job fires.
      if (quietActivity <= startupMs || firstRecordsComing(quietActivity)) {
        return;
      }
      clock = shared.get();
      if (clock == Long.MIN_VALUE) {
        output.markIdle();
        return;
      }
    } else {
      clock = newest - outOfOrdernessMs;
      if (done(quietActivity)) {
        long now = System.currentTimeMillis();
        clock += now - newestArrival;
        if (now - lastArrival > idleMs) {
          clock = Math.max(clock, shared.get());
        }
      }
    }
    if (clock > emitted) {
      emitted = clock;
      shared.accumulateAndGet(clock, Math::max);
      output.emitWatermark(new Watermark(clock));
    }
  }

  /**
   * Whether an output is the source reader's own rather than a split's: Flink's source operator
   * writes its main output's watermarks through classes of its own package
   * (ProgressiveTimestampsAndWatermarks, WatermarkToDataOutput), a split's through the
   * WatermarkOutputMultiplexer that takes the minimum over the splits.
   */
  static boolean readersOwn(WatermarkOutput output) {
    return output.getClass().getName().startsWith("org.apache.flink.streaming.api.operators.source.");
  }

  /** A strategy for PyFlink: `WatermarkStrategy(jvm.io.journeys.flink.WallClockWatermarks.strategy(...))`. */
  public static <T> WatermarkStrategy<T> strategy(
      long outOfOrdernessMs, long idleMs, long startupMs, boolean follow) {
    return strategy(outOfOrdernessMs, idleMs, startupMs, follow, null, "", null, 0);
  }

  /**
   * @param kafka the source's Kafka client properties (bootstrap servers, security), to ask where
   *     each partition's log ends; null to take every quiet partition as done
   * @param topics the source's topics, comma-separated
   * @param group the source's consumer group (where it starts without a checkpoint)
   * @param readers the source's parallelism
   */
  public static <T> WatermarkStrategy<T> strategy(
      long outOfOrdernessMs,
      long idleMs,
      long startupMs,
      boolean follow,
      Map<String, String> kafka,
      String topics,
      String group,
      int readers) {
    String sourceId = UUID.randomUUID().toString();
    HashMap<String, String> properties = kafka == null ? null : new HashMap<>(kafka);
    List<String> topicList = topics.isEmpty() ? List.of() : List.of(topics.split(","));
    WatermarkGeneratorSupplier<T> supplier =
        new WatermarkGeneratorSupplier<T>() {
          private static final long serialVersionUID = 1L;
          /**
           * Made once per deserialized copy, and Flink deserializes the strategy for each source
           * subtask's attempt: the generators of one reader share it, and nothing else does.
           */
          private transient Splits splits;

          @Override
          public WatermarkGenerator<T> createWatermarkGenerator(Context context) {
            if (splits == null) {
              splits = new Splits();
            }
            return new WallClockWatermarks<>(
                outOfOrdernessMs,
                idleMs,
                startupMs,
                follow,
                sourceId,
                properties,
                topicList,
                group,
                readers,
                readerOf(context),
                context == null ? SystemClock.getInstance() : context.getInputActivityClock(),
                splits);
          }
        };
    // PyFlink adds its own (Python) timestamp assigner; idleness is handled above
    return WatermarkStrategy.forGenerator(supplier);
  }

  /** What the generators of one source reader know of each other. */
  static final class Splits {
    /** How many write to a split's output (all run on the reader's task thread). */
    int count;
  }

  /** The source subtask a generator runs in, from its metric group's scope; -1 if not known. */
  private static int readerOf(WatermarkGeneratorSupplier.Context context) {
    if (context == null || context.getMetricGroup() == null) {
      return -1;
    }
    String index = context.getMetricGroup().getAllVariables().get("<subtask_index>");
    try {
      return index == null ? -1 : Integer.parseInt(index);
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
