package io.journeys.flink;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * One byte array from a Python operator into a keyed Kafka record on the topic it names
 * (connectors/records.py, output_frame).
 *
 * <p>Frame, big-endian: u8 version=1 | u16 topic length | topic | i32 key length (-1 = null) | key
 * | value (the rest). Topics outside the allowed set fail the job: a routing bug must not write
 * into another team's topic.
 */
public final class RecordFrameSerializer implements KafkaRecordSerializationSchema<byte[]> {
  private static final long serialVersionUID = 1L;
  private final HashSet<String> allowedTopics;

  /** @param allowedTopics comma-separated topic names this sink may write to */
  public RecordFrameSerializer(String allowedTopics) {
    this.allowedTopics = new HashSet<>(Arrays.asList(allowedTopics.split(",")));
  }

  public Set<String> allowedTopics() {
    return allowedTopics;
  }

  @Override
  public ProducerRecord<byte[], byte[]> serialize(
      byte[] frame, KafkaSinkContext context, Long timestamp) {
    ByteBuffer b = ByteBuffer.wrap(frame);
    byte version = b.get();
    if (version != 1) {
      throw new IllegalArgumentException("output frame version " + version + ", expected 1");
    }
    int topicLength = b.getShort() & 0xffff;
    String topic = new String(frame, 3, topicLength, StandardCharsets.UTF_8);
    if (!allowedTopics.contains(topic)) {
      throw new IllegalArgumentException(
          "output to topic '" + topic + "' is not allowed; allowed: " + allowedTopics);
    }
    b.position(3 + topicLength);
    int keyLength = b.getInt();
    byte[] key = null;
    if (keyLength >= 0) {
      key = new byte[keyLength];
      b.get(key);
    }
    byte[] value = new byte[b.remaining()];
    b.get(value);
    // Stamped when written, not with the record's event time: a replay's timers fire at event
    // times the broker would reject as too far from now (log.message.timestamp.*.max.ms), and
    // consumers want to know when an action was sent. Its journey time is in the payload.
    return new ProducerRecord<>(topic, null, null, key, value);
  }
}
