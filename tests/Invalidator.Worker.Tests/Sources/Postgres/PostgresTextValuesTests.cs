using Invalidator.Worker.Sources.Postgres;

namespace Invalidator.Worker.Tests.Sources.Postgres;

/// <summary>
/// Postgres text (as pgoutput sends it) to the canonical text of the Debezium decoder. Expected values are the
/// ones Debezium's own Postgres connector tests and documentation give for the same inputs
/// (AbstractRecordsProducerTest, the temporal-types fixture, the Postgres connector data-type tables).
/// </summary>
public class PostgresTextValuesTests
{
    private const int None = -1;

    [Theory]
    [InlineData(PostgresTypeOids.Bool, None, "t", "true")]
    [InlineData(PostgresTypeOids.Bool, None, "f", "false")]
    [InlineData(PostgresTypeOids.Bit, 1, "1", "true")]
    [InlineData(PostgresTypeOids.Int2, None, "-7", "-7")]
    [InlineData(PostgresTypeOids.Int8, None, "9223372036854775807", "9223372036854775807")]
    [InlineData(PostgresTypeOids.Text, None, "Ann Ünïcode", "Ann Ünïcode")]
    [InlineData(PostgresTypeOids.BpChar, 14, "cdef      ", "cdef      ")]
    [InlineData(PostgresTypeOids.Uuid, None, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]
    [InlineData(PostgresTypeOids.Jsonb, None, "{\"bar\": \"baz\"}", "{\"bar\": \"baz\"}")]
    [InlineData(PostgresTypeOids.Bytea, None, "\\x010203", "AQID")]
    [InlineData(PostgresTypeOids.Money, None, "$1,234.11", "1234.11")]
    [InlineData(PostgresTypeOids.Money, None, "-$1,234.11", "-1234.11")]
    public void Simple_types(uint type, int modifier, string text, string expected) =>
        Assert.Equal(expected, PostgresTextValues.Canonicalize(type, modifier, text));

    [Theory]
    // numeric(p,s) is Connect's Decimal with the column's scale: Postgres already prints that scale.
    [InlineData(((6 << 16) | 4) + 4, "22.2200", "22.2200")]
    [InlineData(((10 << 16) | 2) + 4, "-0.50", "-0.50")]
    [InlineData(((10 << 16) | 0) + 4, "12", "12")]
    // Unconstrained numeric is VariableScaleDecimal with trailing zeros stripped (never to a negative scale).
    [InlineData(None, "10.1111", "10.1111")]
    [InlineData(None, "12.500", "12.5")]
    [InlineData(None, "-1.50", "-1.5")]
    [InlineData(None, "100", "100")]
    [InlineData(None, "0.000", "0")]
    [InlineData(None, "NaN", "NaN")]
    public void Numeric(int modifier, string text, string expected) =>
        Assert.Equal(expected, PostgresTextValues.Canonicalize(PostgresTypeOids.Numeric, modifier, text));

    [Theory]
    // Java's Double.toString, which is what JsonConverter writes for FLOAT64.
    [InlineData("4.44", "4.44")]
    [InlineData("100", "100.0")]
    [InlineData("-0", "-0.0")]
    [InlineData("0.001", "0.001")]
    [InlineData("0.0001", "1.0E-4")]
    [InlineData("1234567", "1234567.0")]
    [InlineData("12345678", "1.2345678E7")]
    [InlineData("1e+20", "1.0E20")]
    [InlineData("Infinity", "Infinity")]
    [InlineData("NaN", "NaN")]
    public void Double_precision_renders_like_java(string text, string expected) =>
        Assert.Equal(expected, PostgresTextValues.Canonicalize(PostgresTypeOids.Float8, None, text));

    [Fact]
    public void Real_renders_like_java_float() =>
        Assert.Equal("3.3", PostgresTextValues.Canonicalize(PostgresTypeOids.Float4, None, "3.3"));

    [Theory]
    // MicroTimestamp (timestamp, timestamp(4-6)): epoch microseconds.
    [InlineData(None, "2016-11-04 13:51:30.123456", "1478267490123456")]
    [InlineData(6, "2011-11-11 11:11:11.123456", "1321009871123456")]
    [InlineData(None, "1936-10-25 22:10:12.608", "-1047174587392000")]
    [InlineData(None, "21016-11-04 13:51:30.123456", "601060312290123456")]
    [InlineData(None, "infinity", "9223372036825200000")]
    // Timestamp (timestamp(0-3)): epoch milliseconds.
    [InlineData(3, "2016-11-04 13:51:30.123", "1478267490123")]
    [InlineData(0, "2011-11-11 11:11:11", "1321009871000")]
    public void Timestamp_is_epoch_micros_or_millis_by_precision(int precision, string text, string expected) =>
        Assert.Equal(expected, PostgresTextValues.Canonicalize(PostgresTypeOids.Timestamp, precision, text));

    [Theory]
    // ZonedTimestamp: UTC, fraction padded to the column's precision (6 when unconstrained), none for precision 0.
    [InlineData(None, "2016-11-04 11:51:30.123456+00", "2016-11-04T11:51:30.123456Z")]
    [InlineData(None, "2016-11-04 13:51:30.123456+02", "2016-11-04T11:51:30.123456Z")]
    [InlineData(None, "2024-02-29 23:30:00.5-01:30", "2024-03-01T01:00:00.500000Z")]
    [InlineData(None, "21016-11-04 06:51:30+00", "+21016-11-04T06:51:30.000000Z")]
    [InlineData(None, "294247-01-01 23:59:59.999999+00", "+294247-01-01T23:59:59.999999Z")]
    [InlineData(3, "2020-04-01 11:51:02.12+00", "2020-04-01T11:51:02.120Z")]
    [InlineData(0, "2011-11-11 11:11:11+08", "2011-11-11T03:11:11Z")]
    [InlineData(None, "infinity", "infinity")]
    public void Timestamptz_is_an_iso_utc_string(int precision, string text, string expected) =>
        Assert.Equal(expected, PostgresTextValues.Canonicalize(PostgresTypeOids.TimestampTz, precision, text));

    [Theory]
    [InlineData(PostgresTypeOids.Date, None, "2016-11-04", "17109")]
    [InlineData(PostgresTypeOids.Date, None, "1969-12-31", "-1")]
    [InlineData(PostgresTypeOids.Time, None, "13:51:30", "49890000000")]
    [InlineData(PostgresTypeOids.Time, 3, "13:51:30.123", "49890123")]
    [InlineData(PostgresTypeOids.TimeTz, None, "13:51:30.123789+02", "11:51:30.123789Z")]
    [InlineData(PostgresTypeOids.TimeTz, None, "01:00:00-03:30", "04:30:00Z")]
    [InlineData(PostgresTypeOids.TimeTz, None, "01:00:00+03", "22:00:00Z")]
    public void Dates_and_times(uint type, int modifier, string text, string expected) =>
        Assert.Equal(expected, PostgresTextValues.Canonicalize(type, modifier, text));

    [Theory]
    [InlineData(PostgresTypeOids.Timestamp, "not a time")]
    [InlineData(PostgresTypeOids.TimestampTz, "2016-11-04 11:51:30")] // no offset
    [InlineData(PostgresTypeOids.Date, "2016-13-04")]
    [InlineData(PostgresTypeOids.Interval, "1 year 2 mons")]
    public void Values_it_cannot_read_stay_as_postgres_wrote_them(uint type, string text) =>
        Assert.Equal(text, PostgresTextValues.Canonicalize(type, None, text));
}
