package io.journeys.flink;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/**
 * A Python stage's outputs for one input, as one batch, into one output frame per record (see
 * {@link RecordFrameSerializer}), each value Avro in the Confluent wire format.
 *
 * <p>The stage hands over everything one record caused (its actions and journey events) in one
 * crossing, each output as JSON, and the Avro encoding happens here, in the JVM, off the Python
 * interpreter's lock. Batch, big-endian: u8 version=2 | then per output: u8 kind | i32 key length
 * (-1 = null) | key | i32 JSON length | JSON. A kind is an index into the outputs this function
 * was made with: a topic, the Avro schema its values are written with, and that schema's id in the
 * registry (registered when the job is built).
 */
public final class OutputBatches implements FlatMapFunction<byte[], byte[]> {
  private static final long serialVersionUID = 1L;
  private static final byte VERSION = 2;

  private final byte[][] topics;
  private final JsonAvroWriter[] writers;
  private final int[] schemaIds;

  public OutputBatches(String[] topics, String[] schemas, int[] schemaIds) {
    if (topics.length != schemas.length || topics.length != schemaIds.length) {
      throw new IllegalArgumentException("one schema and one id per topic");
    }
    this.topics = new byte[topics.length][];
    this.writers = new JsonAvroWriter[topics.length];
    for (int i = 0; i < topics.length; i++) {
      this.topics[i] = topics[i].getBytes(StandardCharsets.UTF_8);
      this.writers[i] = new JsonAvroWriter(schemas[i]);
    }
    this.schemaIds = schemaIds.clone();
  }

  @Override
  public void flatMap(byte[] batch, Collector<byte[]> out) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(batch);
    byte version = b.get();
    if (version != VERSION) {
      throw new IllegalArgumentException("output batch version " + version + ", expected 2");
    }
    ByteArrayOutputStream frame = new ByteArrayOutputStream(512);
    while (b.hasRemaining()) {
      int kind = b.get() & 0xff;
      int keyLength = b.getInt();
      int keyAt = b.position();
      b.position(keyAt + Math.max(keyLength, 0));
      int jsonLength = b.getInt();
      int jsonAt = b.position();
      b.position(jsonAt + jsonLength);
      byte[] json = new byte[jsonLength];
      System.arraycopy(batch, jsonAt, json, 0, jsonLength);
      byte[] topic = topics[kind];
      frame.reset();
      // output frame: u8 1 | u16 topic length | topic | i32 key length | key | value
      frame.write(1);
      frame.write((topic.length >>> 8) & 0xff);
      frame.write(topic.length & 0xff);
      frame.write(topic);
      writeInt(frame, keyLength);
      if (keyLength > 0) {
        frame.write(batch, keyAt, keyLength);
      }
      frame.write(0); // Confluent wire format: magic byte, schema id, body
      writeInt(frame, schemaIds[kind]);
      try {
        frame.write(writers[kind].write(json));
      } catch (IOException e) {
        throw new IOException(
            "output to " + new String(topic, StandardCharsets.UTF_8) + ": " + e.getMessage(), e);
      }
      out.collect(frame.toByteArray());
    }
  }

  private static void writeInt(ByteArrayOutputStream out, int v) {
    out.write((v >>> 24) & 0xff);
    out.write((v >>> 16) & 0xff);
    out.write((v >>> 8) & 0xff);
    out.write(v & 0xff);
  }
}
