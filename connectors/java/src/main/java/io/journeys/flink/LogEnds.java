package io.journeys.flink;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
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
  private final Set<TopicPartition> watched = ConcurrentHashMap.newKeySet();
  private final ConcurrentHashMap<TopicPartition, Long> ends = new ConcurrentHashMap<>();
  private volatile long lastAsked = System.currentTimeMillis();
  private volatile int failures;

  private LogEnds(String sourceId, Map<String, String> kafka) {
    this.sourceId = sourceId;
    this.config = new HashMap<>(kafka);
    config.put("client.id", "journey-log-ends-" + sourceId.substring(0, 8));
    config.put("request.timeout.ms", "5000");
    config.put("default.api.timeout.ms", "5000");
  }

  /** The poller of a source, started if it is not running. */
  static LogEnds of(String sourceId, Map<String, String> kafka) {
    return BY_SOURCE.computeIfAbsent(sourceId, id -> new LogEnds(id, kafka).start());
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
    try (Admin admin = Admin.create(config)) {
      while (System.currentTimeMillis() - lastAsked < RETIRE_MS) {
        if (!watched.isEmpty()) {
          poll(admin);
        }
        Thread.sleep(POLL_MS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      LOG.warn("cannot ask the broker where the input partitions end; journey time goes by wall time alone", e);
      failures = FAILURES;
    } finally {
      BY_SOURCE.remove(sourceId, this);
    }
  }

  private void poll(Admin admin) throws InterruptedException {
    Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
    for (TopicPartition p : watched) {
      latest.put(p, OffsetSpec.latest());
    }
    try {
      Map<TopicPartition, ListOffsetsResultInfo> found =
          admin
              .listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
              .all()
              .get(5, TimeUnit.SECONDS);
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
