package io.journeys.flink;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Splits a Python stage's one output into the stages it is for, in the JVM: {@code Row(destination,
 * key, time, value)} in; destination 0 to the main output, any other to the side output of that
 * number, each as {@code Row(key, time, value)}.
 *
 * <p>Why not side outputs in Python: PyFlink hands a Python side output to Flink inside the
 * Python call, holding the interpreter's lock while the record is serialized into the network
 * buffers, and while it waits for one when the next stage is behind; the Python stages of the
 * task manager that would drain them wait for that lock meanwhile. A main output leaves Python
 * first.
 */
public final class ByDestination extends ProcessFunction<Row, Row> implements ResultTypeQueryable<Row> {
  private static final long serialVersionUID = 1L;

  private final TypeInformation<Row> outType;
  private final OutputTag<Row>[] sides;

  /** @param sides how many destinations besides the main one */
  @SuppressWarnings("unchecked")
  public ByDestination(TypeInformation<Row> outType, int sides) {
    this.outType = outType;
    this.sides = new OutputTag[sides + 1];
    for (int i = 1; i <= sides; i++) {
      this.sides[i] = tag(outType, i);
    }
  }

  /** The side output of destination {@code n}. */
  public static OutputTag<Row> tag(TypeInformation<Row> outType, int n) {
    return new OutputTag<>("destination-" + n, outType);
  }

  @Override
  public void processElement(Row row, Context ctx, Collector<Row> out) {
    int destination = ((Number) row.getField(0)).intValue();
    Row value = Row.of(row.getField(1), row.getField(2), row.getField(3));
    if (destination == 0) {
      out.collect(value);
    } else {
      ctx.output(sides[destination], value);
    }
  }

  @Override
  public TypeInformation<Row> getProducedType() {
    return outType;
  }
}
