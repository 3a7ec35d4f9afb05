package energy_assets;

import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Properties;

import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DateType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.types.UTF8String;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

/**
 * COPY a Spark frame into PostgreSQL from the executors, in PostgreSQL's binary COPY format,
 * without the rows leaving the JVM.
 *
 * <p>The Python loader (postgres_io.spark_copy_writer) moves a computed frame's rows from the
 * JVM to Python workers as Arrow and renders them there; here each task encodes Spark's own
 * rows (UnsafeRow fields, no conversion to external objects) and streams them over the
 * PostgreSQL JDBC driver's COPY API. Every column type must have an encoding ({@link #supports});
 * the caller uses the Arrow path otherwise. The encoding matches energy_assets/storage/pgbinary.py.
 */
public final class PgBinaryCopy {
  static final int TEXT = 0, BOOL = 1, INT2_FROM_BYTE = 2, INT2 = 3, INT4 = 4, INT8 = 5,
      FLOAT4 = 6, FLOAT8 = 7, DATE = 8, TIMESTAMP = 9;
  static final long PG_EPOCH_MICROS = 946_684_800_000_000L;
  static final int PG_EPOCH_DAYS = 10_957;
  static final byte[] HEADER = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', (byte) 0xff, '\r', '\n', 0,
      0, 0, 0, 0, 0, 0, 0, 0};

  private PgBinaryCopy() {}

  /** The encoding of each field, or null when a field's type has none. */
  static int[] kinds(StructType schema) {
    StructField[] fields = schema.fields();
    int[] kinds = new int[fields.length];
    for (int i = 0; i < fields.length; i++) {
      DataType t = fields[i].dataType();
      if (t instanceof StringType) kinds[i] = TEXT;
      else if (t instanceof BooleanType) kinds[i] = BOOL;
      else if (t instanceof ByteType) kinds[i] = INT2_FROM_BYTE;
      else if (t instanceof ShortType) kinds[i] = INT2;
      else if (t instanceof IntegerType) kinds[i] = INT4;
      else if (t instanceof LongType) kinds[i] = INT8;
      else if (t instanceof FloatType) kinds[i] = FLOAT4;
      else if (t instanceof DoubleType) kinds[i] = FLOAT8;
      else if (t instanceof DateType) kinds[i] = DATE;
      else if (t instanceof TimestampType || t instanceof TimestampNTZType) kinds[i] = TIMESTAMP;
      else return null;
    }
    return kinds;
  }

  /** Whether every column of the schema has a binary encoding here. */
  public static boolean supports(StructType schema) {
    return kinds(schema) != null;
  }

  /**
   * COPY every partition of {@code frame} with {@code statement} (a rendered {@code COPY ...
   * FROM STDIN (FORMAT binary)} naming the frame's columns in order), one connection and one
   * commit a task; the rows written.
   */
  public static long copy(
      Dataset<Row> frame, String jdbcUrl, String user, String password, String statement) {
    int[] kinds = kinds(frame.schema());
    if (kinds == null) {
      throw new IllegalArgumentException("a column of the frame has no binary COPY encoding");
    }
    List<Long> counts =
        frame.queryExecution().toRdd().toJavaRDD()
            .mapPartitions(new CopyPartition(jdbcUrl, user, password, statement, kinds))
            .collect();
    long rows = 0;
    for (long n : counts) rows += n;
    return rows;
  }

  /** One task's COPY: encode its rows into a buffer, send the buffer when full. */
  static final class CopyPartition implements FlatMapFunction<Iterator<InternalRow>, Long> {
    private static final long serialVersionUID = 1L;
    private static final int BUFFER_BYTES = 1 << 20;
    private final String jdbcUrl, user, password, statement;
    private final int[] kinds;

    CopyPartition(String jdbcUrl, String user, String password, String statement, int[] kinds) {
      this.jdbcUrl = jdbcUrl;
      this.user = user;
      this.password = password;
      this.statement = statement;
      this.kinds = kinds;
    }

    @Override
    public Iterator<Long> call(Iterator<InternalRow> rows) throws Exception {
      Properties props = new Properties();
      props.setProperty("user", user);
      if (password != null) props.setProperty("password", password);
      props.setProperty("ApplicationName", "energy_assets copy");
      // The driver object itself, not DriverManager: Spark loads the jar in a child class loader
      // that DriverManager does not consult.
      try (Connection conn = new org.postgresql.Driver().connect(jdbcUrl, props)) {
        if (conn == null) throw new SQLException("not a PostgreSQL JDBC URL");
        conn.setAutoCommit(false);
        CopyIn copy = conn.unwrap(PGConnection.class).getCopyAPI().copyIn(statement);
        long written;
        try {
          written = send(copy, rows);
        } catch (Exception e) {
          if (copy.isActive()) copy.cancelCopy();
          throw e;
        }
        conn.commit();
        return Collections.singletonList(written).iterator();
      }
    }

    private long send(CopyIn copy, Iterator<InternalRow> rows) throws SQLException {
      ByteBuffer out = ByteBuffer.allocate(BUFFER_BYTES);
      out.put(HEADER);
      long n = 0;
      int fields = kinds.length;
      while (rows.hasNext()) {
        InternalRow row = rows.next();
        out = room(copy, out, 2 + fields * 12);
        out.putShort((short) fields);
        for (int i = 0; i < fields; i++) {
          if (row.isNullAt(i)) {
            out.putInt(-1);
            continue;
          }
          switch (kinds[i]) {
            case TEXT:
              UTF8String s = row.getUTF8String(i);
              int len = s.numBytes();
              out = room(copy, out, 4 + len + (fields - i) * 12);
              out.putInt(len);
              s.writeToMemory(out.array(), Platform.BYTE_ARRAY_OFFSET + out.position());
              out.position(out.position() + len);
              break;
            case BOOL:
              out.putInt(1).put((byte) (row.getBoolean(i) ? 1 : 0));
              break;
            case INT2_FROM_BYTE:
              out.putInt(2).putShort(row.getByte(i));
              break;
            case INT2:
              out.putInt(2).putShort(row.getShort(i));
              break;
            case INT4:
              out.putInt(4).putInt(row.getInt(i));
              break;
            case INT8:
              out.putInt(8).putLong(row.getLong(i));
              break;
            case FLOAT4:
              out.putInt(4).putFloat(row.getFloat(i));
              break;
            case FLOAT8:
              out.putInt(8).putDouble(row.getDouble(i));
              break;
            case DATE:
              out.putInt(4).putInt(row.getInt(i) - PG_EPOCH_DAYS);
              break;
            default: // TIMESTAMP: microseconds since 1970 in Spark, since 2000 in PostgreSQL
              out.putInt(8).putLong(row.getLong(i) - PG_EPOCH_MICROS);
          }
        }
        n++;
      }
      out = room(copy, out, 2);
      out.putShort((short) -1);
      copy.writeToCopy(out.array(), 0, out.position());
      copy.endCopy();
      return n;
    }

    /** A buffer with {@code need} bytes free: the full one sent first, or a larger one. */
    private static ByteBuffer room(CopyIn copy, ByteBuffer out, int need) throws SQLException {
      if (out.remaining() >= need) return out;
      copy.writeToCopy(out.array(), 0, out.position());
      out.clear();
      return out.capacity() >= need ? out : ByteBuffer.allocate(Math.max(need, BUFFER_BYTES));
    }
  }
}
