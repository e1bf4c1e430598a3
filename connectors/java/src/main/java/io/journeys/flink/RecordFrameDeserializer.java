package io.journeys.flink;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A whole Kafka record as one byte array, for a Python operator to decode (connectors/records.py).
 *
 * <p>Frame, big-endian: u8 version=1 | u16 topic length | topic | i32 partition | i64 offset | i64
 * timestamp | i32 key length (-1 = null) | key | i32 value length (-1 = null) | value.
 */
public final class RecordFrameDeserializer implements KafkaRecordDeserializationSchema<byte[]> {
  private static final long serialVersionUID = 1L;

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<byte[]> out) {
    byte[] topic = record.topic().getBytes(StandardCharsets.UTF_8);
    byte[] key = record.key();
    byte[] value = record.value();
    int size =
        1 + 2 + topic.length + 4 + 8 + 8 + 4 + (key == null ? 0 : key.length) + 4
            + (value == null ? 0 : value.length);
    ByteBuffer b = ByteBuffer.allocate(size);
    b.put((byte) 1).putShort((short) topic.length).put(topic);
    b.putInt(record.partition()).putLong(record.offset()).putLong(record.timestamp());
    putChunk(b, key);
    putChunk(b, value);
    out.collect(b.array());
  }

  private static void putChunk(ByteBuffer b, byte[] chunk) {
    if (chunk == null) {
      b.putInt(-1);
    } else {
      b.putInt(chunk.length).put(chunk);
    }
  }

  @Override
  public TypeInformation<byte[]> getProducedType() {
    return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
  }
}
