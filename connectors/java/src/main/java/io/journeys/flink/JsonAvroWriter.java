package io.journeys.flink;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Avro binary encoding of a JSON value by an Avro schema (itself JSON), with no Avro library: the
 * binary format is small (zig-zag varints, length-prefixed strings and blocks, union indexes),
 * and the job's Python stages hand over their records as JSON, which costs them a microsecond
 * where encoding Avro in Python cost them twenty.
 *
 * <p>Types: null, boolean, int, long, float, double, string, bytes (base64 text is not used; a
 * string's UTF-8), enum, record, array, map, union and named references; logical types are their
 * underlying type (a timestamp-millis is a long). A union takes the first branch the JSON value
 * fits: null for null, a number for int/long (integral) or double/float, text for string or
 * enum, an object for a record or map, an array for an array. Missing record fields take their
 * default. What fits no schema is an error naming the field.
 */
public final class JsonAvroWriter implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String schemaText;
  private transient JsonNode schema;
  private transient Map<String, JsonNode> named;

  public JsonAvroWriter(String schemaText) {
    this.schemaText = schemaText;
    parse();
  }

  private void parse() {
    try {
      schema = JSON.readTree(schemaText);
    } catch (IOException e) {
      throw new IllegalArgumentException("not a JSON Avro schema: " + e.getMessage(), e);
    }
    named = new HashMap<>();
    collectNames(schema, null);
  }

  private void collectNames(JsonNode s, String namespace) {
    if (s.isArray()) {
      for (JsonNode branch : s) {
        collectNames(branch, namespace);
      }
      return;
    }
    if (!s.isObject()) {
      return;
    }
    String type = s.path("type").asText();
    String ns = s.has("namespace") ? s.get("namespace").asText() : namespace;
    if (type.equals("record") || type.equals("enum") || type.equals("fixed")) {
      String name = s.get("name").asText();
      named.put(name, s);
      if (ns != null && !name.contains(".")) {
        named.put(ns + "." + name, s);
      }
    }
    if (type.equals("record")) {
      for (JsonNode f : s.get("fields")) {
        collectNames(f.get("type"), ns);
      }
    } else if (type.equals("array")) {
      collectNames(s.get("items"), ns);
    } else if (type.equals("map")) {
      collectNames(s.get("values"), ns);
    } else if (s.get("type").isObject() || s.get("type").isArray()) {
      collectNames(s.get("type"), ns);
    }
  }

  /** The Avro body (no header) of a JSON document. */
  public byte[] write(byte[] json) throws IOException {
    if (schema == null) {
      parse();
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    write(schema, JSON.readTree(json), out, "$");
    return out.toByteArray();
  }

  /** The same, appended to `out`. */
  public void write(JsonNode value, ByteArrayOutputStream out) throws IOException {
    if (schema == null) {
      parse();
    }
    write(schema, value, out, "$");
  }

  private JsonNode resolve(JsonNode s) {
    if (s.isTextual()) {
      JsonNode found = named.get(s.asText());
      if (found != null) {
        return found;
      }
    }
    return s;
  }

  private static String typeName(JsonNode s) {
    if (s.isTextual()) {
      return s.asText();
    }
    if (s.isArray()) {
      return "union";
    }
    JsonNode t = s.get("type");
    return t.isTextual() ? t.asText() : "nested";
  }

  private void write(JsonNode s, JsonNode v, ByteArrayOutputStream out, String where)
      throws IOException {
    s = resolve(s);
    String type = typeName(s);
    switch (type) {
      case "nested":
        write(s.get("type"), v, out, where);
        return;
      case "union":
        int i = 0;
        for (JsonNode branch : s) {
          if (fits(resolve(branch), v)) {
            writeLong(i, out);
            write(branch, v, out, where);
            return;
          }
          i++;
        }
        throw new IOException(where + ": " + v + " fits no branch of " + s);
      case "null":
        if (v != null && !v.isNull()) {
          throw new IOException(where + ": expected null, got " + v);
        }
        return;
      case "boolean":
        out.write(v.asBoolean() ? 1 : 0);
        return;
      case "int":
      case "long":
        if (v == null || !v.isIntegralNumber()) {
          throw new IOException(where + ": expected an integer, got " + v);
        }
        writeLong(v.asLong(), out);
        return;
      case "double":
        if (v == null || !v.isNumber()) {
          throw new IOException(where + ": expected a number, got " + v);
        }
        long bits = Double.doubleToLongBits(v.asDouble());
        for (int b = 0; b < 8; b++) {
          out.write((int) (bits >>> (8 * b)) & 0xff);
        }
        return;
      case "float":
        if (v == null || !v.isNumber()) {
          throw new IOException(where + ": expected a number, got " + v);
        }
        int fbits = Float.floatToIntBits((float) v.asDouble());
        for (int b = 0; b < 4; b++) {
          out.write((fbits >>> (8 * b)) & 0xff);
        }
        return;
      case "string":
      case "bytes":
        if (v == null || !v.isTextual()) {
          throw new IOException(where + ": expected text, got " + v);
        }
        byte[] text = v.asText().getBytes(StandardCharsets.UTF_8);
        writeLong(text.length, out);
        out.write(text);
        return;
      case "enum":
        int index = 0;
        for (JsonNode symbol : s.get("symbols")) {
          if (symbol.asText().equals(v.asText())) {
            writeLong(index, out);
            return;
          }
          index++;
        }
        throw new IOException(where + ": " + v + " is not a symbol of " + s.get("name"));
      case "array":
        if (v == null || !v.isArray()) {
          throw new IOException(where + ": expected an array, got " + v);
        }
        if (v.size() > 0) {
          writeLong(v.size(), out);
          int n = 0;
          for (JsonNode item : v) {
            write(s.get("items"), item, out, where + "[" + n++ + "]");
          }
        }
        writeLong(0, out);
        return;
      case "map":
        if (v == null || !v.isObject()) {
          throw new IOException(where + ": expected an object, got " + v);
        }
        if (v.size() > 0) {
          writeLong(v.size(), out);
          Iterator<Map.Entry<String, JsonNode>> entries = v.fields();
          while (entries.hasNext()) {
            Map.Entry<String, JsonNode> e = entries.next();
            byte[] key = e.getKey().getBytes(StandardCharsets.UTF_8);
            writeLong(key.length, out);
            out.write(key);
            write(s.get("values"), e.getValue(), out, where + "." + e.getKey());
          }
        }
        writeLong(0, out);
        return;
      case "record":
        if (v == null || !v.isObject()) {
          throw new IOException(where + ": expected an object, got " + v);
        }
        for (JsonNode f : s.get("fields")) {
          String name = f.get("name").asText();
          JsonNode fv = v.get(name);
          if (fv == null) {
            fv = f.get("default");
            if (fv == null) {
              throw new IOException(where + "." + name + ": missing, and the schema has no default");
            }
          }
          write(f.get("type"), fv, out, where + "." + name);
        }
        return;
      default:
        throw new IOException(where + ": schema type " + type + " is not supported");
    }
  }

  private boolean fits(JsonNode s, JsonNode v) {
    switch (typeName(s)) {
      case "null":
        return v == null || v.isNull();
      case "boolean":
        return v != null && v.isBoolean();
      case "int":
      case "long":
        return v != null && v.isIntegralNumber();
      case "float":
      case "double":
        return v != null && v.isNumber();
      case "string":
      case "bytes":
      case "enum":
        return v != null && v.isTextual();
      case "record":
      case "map":
        return v != null && v.isObject();
      case "array":
        return v != null && v.isArray();
      case "nested":
        return fits(resolve(s.get("type")), v);
      default:
        return false;
    }
  }

  private static void writeLong(long n, ByteArrayOutputStream out) {
    long z = (n << 1) ^ (n >> 63);
    while ((z & ~0x7FL) != 0) {
      out.write((int) ((z & 0x7F) | 0x80));
      z >>>= 7;
    }
    out.write((int) z);
  }

  /** For tests and tools: the Avro body of a JSON document, as bytes. */
  public static byte[] encode(String schemaText, String json) throws IOException {
    return new JsonAvroWriter(schemaText).write(json.getBytes(StandardCharsets.UTF_8));
  }
}
