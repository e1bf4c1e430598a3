package io.journeys.flink;

import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where each input partition's committed log ends (its last stable offset, what a {@code
 * read_committed} consumer can reach), asked of the broker about once a second by one daemon
 * thread per source and JVM. {@link WallClockWatermarks} uses it to tell a partition that is
 * quiet because it has nothing more from one that is quiet because the consumer has not come to
 * its records yet (a backlog read under back-pressure drains one partition's fetch after the
 * other): only the first may let wall time, or the other partitions, move its journey time on.
 *
 * <p>It also tells a partition that has delivered nothing since it was assigned whether it may
 * have records coming: a generator does not know its partition until its first record, so it
 * asks whether any partition this JVM's readers own (the Kafka source's own assignment: {@link
 * #owner}) has records past where the job started (the group's committed offset, else the
 * log's start) and has delivered none yet.
 *
 * <p>The thread ends a minute after no generator has asked (a finished job, on a session cluster,
 * must not keep its class loader alive); the next question starts a new one.
 */
final class LogEnds {
  /** Not answered yet. */
  static final long UNKNOWN = -1;
  /** The broker cannot be asked (it refused, or does not answer): the caller decides without. */
  static final long UNAVAILABLE = -2;

  private static final Logger LOG = LoggerFactory.getLogger(LogEnds.class);
  private static final ConcurrentHashMap<String, LogEnds> BY_SOURCE = new ConcurrentHashMap<>();
  private static final long POLL_MS = 1_000;
  private static final long RETIRE_MS = 60_000;
  /** Failed polls in a row before a partition's end counts as unavailable. */
  private static final int FAILURES = 3;

  private final String sourceId;
  private final Map<String, Object> config;
  private final List<String> topics;
  private final String group;
  private final int readers;
  private final Set<TopicPartition> watched = ConcurrentHashMap.newKeySet();
  private final ConcurrentHashMap<TopicPartition, Long> ends = new ConcurrentHashMap<>();
  /** Reader (subtask) indexes of the source that run in this JVM. */
  private final Set<Integer> local = ConcurrentHashMap.newKeySet();
  /** This JVM's partitions that have records past the start and have delivered none yet. */
  private volatile Set<TopicPartition> waiting = Set.of();
  private volatile boolean waitingKnown;
  private volatile long lastAsked = System.currentTimeMillis();
  /** When a partition that has delivered nothing last asked: only then are they looked for. */
  private volatile long firstRecordsAsked;
  private volatile int failures;

  private LogEnds(String sourceId, Map<String, String> kafka, List<String> topics, String group, int readers) {
    this.sourceId = sourceId;
    this.topics = topics;
    this.group = group;
    this.readers = readers;
    this.config = new HashMap<>(kafka);
    config.put("client.id", "journey-log-ends-" + sourceId.substring(0, 8));
    config.put("request.timeout.ms", "5000");
    config.put("default.api.timeout.ms", "5000");
  }

  /** The poller of a source, started if it is not running. */
  static LogEnds of(
      String sourceId, Map<String, String> kafka, List<String> topics, String group, int readers) {
    return BY_SOURCE.computeIfAbsent(
        sourceId, id -> new LogEnds(id, kafka, topics, group, readers).start());
  }

  /** The reader that owns a partition: KafkaSourceEnumerator.getSplitOwner (connector 5.0). */
  static int owner(TopicPartition p, int readers) {
    int start = ((p.topic().hashCode() * 31) & 0x7FFFFFFF) % readers;
    return (start + p.partition()) % readers;
  }

  /**
   * Whether a partition of reader {@code reader} may still deliver its first records: one it owns
   * has records past the job's start and none delivered yet. True until the broker has answered;
   * false when it cannot be asked.
   */
  boolean firstRecordsComing(int reader) {
    lastAsked = System.currentTimeMillis();
    if (reader < 0 || readers <= 0 || topics.isEmpty()) {
      return false;
    }
    firstRecordsAsked = lastAsked;
    local.add(reader);
    if (failures >= FAILURES) {
      return false;
    }
    if (!waitingKnown) {
      return true;
    }
    for (TopicPartition p : waiting) {
      if (owner(p, readers) == reader && !watched.contains(p)) {
        return true;
      }
    }
    return false;
  }

  /** The end of a partition's committed log, {@link #UNKNOWN} or {@link #UNAVAILABLE}. */
  long end(TopicPartition partition) {
    lastAsked = System.currentTimeMillis();
    watched.add(partition);
    Long end = ends.get(partition);
    if (end != null) {
      return end;
    }
    return failures >= FAILURES ? UNAVAILABLE : UNKNOWN;
  }

  private LogEnds start() {
    Thread thread = new Thread(this::run, "journey-log-ends-" + sourceId.substring(0, 8));
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  private void run() {
    LOG.info("asking the broker where the input partitions of source {} end", sourceId);
    try (Admin admin = Admin.create(config)) {
      while (System.currentTimeMillis() - lastAsked < RETIRE_MS) {
        if (!watched.isEmpty()) {
          poll(admin);
        }
        if (System.currentTimeMillis() - firstRecordsAsked < 5 * POLL_MS) {
          pollUnstarted(admin);
        } else {
          // nobody waits for first records (they have come, or the wait's cap has passed): no
          // need to ask each second; a question after the gap waits for a fresh answer
          waitingKnown = false;
        }
        Thread.sleep(POLL_MS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | LinkageError e) {
      LOG.warn("cannot ask the broker where the input partitions end; journey time goes by wall time alone", e);
      failures = FAILURES;
    } finally {
      BY_SOURCE.remove(sourceId, this);
    }
  }

  /** This JVM's partitions that have not delivered yet, and whether they have records to. */
  private void pollUnstarted(Admin admin) throws InterruptedException {
    try {
      Map<String, TopicDescription> described =
          admin.describeTopics(topics).allTopicNames().get(5, TimeUnit.SECONDS);
      Set<TopicPartition> unstarted = new HashSet<>();
      Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
      for (TopicDescription d : described.values()) {
        for (var info : d.partitions()) {
          TopicPartition p = new TopicPartition(d.name(), info.partition());
          if (local.contains(owner(p, readers)) && !watched.contains(p)) {
            unstarted.add(p);
            earliest.put(p, OffsetSpec.earliest());
          }
        }
      }
      Set<TopicPartition> found = new HashSet<>(); // published whole, never changed
      if (!unstarted.isEmpty()) {
        Map<TopicPartition, ListOffsetsResultInfo> stable = lastStable(admin, unstarted);
        var starts = admin.listOffsets(earliest).all().get(5, TimeUnit.SECONDS);
        Map<TopicPartition, OffsetAndMetadata> committed =
            group == null
                ? Map.of()
                : admin
                    .listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata()
                    .get(5, TimeUnit.SECONDS);
        for (TopicPartition p : unstarted) {
          OffsetAndMetadata c = committed.get(p);
          long from = Math.max(starts.get(p).offset(), c == null ? 0 : c.offset());
          // one offset past the start may be a commit marker alone
          if (stable.get(p).offset() > from + 1) {
            found.add(p);
          }
        }
      }
      waiting = found;
      waitingKnown = true;
    } catch (InterruptedException e) {
      throw e;
    } catch (Exception e) {
      // the partitions' own ends decide once they deliver; until then, the start-up patience
      waiting = Set.of();
      waitingKnown = true;
    }
  }

  /** Where each partition's committed log ends: what a read_committed consumer can reach. */
  private static Map<TopicPartition, ListOffsetsResultInfo> lastStable(
      Admin admin, Collection<TopicPartition> partitions) throws Exception {
    Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
    for (TopicPartition p : partitions) {
      latest.put(p, OffsetSpec.latest());
    }
    return admin
        .listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
        .all()
        .get(5, TimeUnit.SECONDS);
  }

  private void poll(Admin admin) throws InterruptedException {
    try {
      Map<TopicPartition, ListOffsetsResultInfo> found = lastStable(admin, watched);
      if (ends.isEmpty()) {
        LOG.info("the broker says where {} input partitions end", found.size());
      }
      found.forEach((p, info) -> ends.put(p, info.offset()));
      failures = 0;
    } catch (InterruptedException e) {
      throw e;
    } catch (Exception e) {
      if (++failures == FAILURES) {
        LOG.warn(
            "cannot ask the broker where the input partitions end ({}); until it answers, a quiet"
                + " partition is taken to have nothing more",
            e.toString());
        ends.clear();
      }
    }
  }
}
