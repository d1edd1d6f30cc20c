using System.Globalization;
using System.Text;
using Invalidator.Worker.Sources.Postgres;

namespace Invalidator.Worker.Tests.Sources.Postgres;

/// <summary>
/// The decoder's per-column cache must give exactly what <see cref="PostgresTextValues.Canonicalize"/> gives for the
/// decoded bytes, for any sequence of values: repeats (a FULL update's unchanged columns), a column whose type or
/// modifier changes (a new relation message), values too long to keep, multibyte UTF-8 (a value of as many bytes as
/// another but other characters), and every type the conversion knows.
/// </summary>
public class CanonicalTextCacheTests
{
    private static readonly (uint Type, int Modifier)[] Types =
    [
        (PostgresTypeOids.Bool, -1), (PostgresTypeOids.Bit, 1), (PostgresTypeOids.Bit, 8), (PostgresTypeOids.Int4, -1),
        (PostgresTypeOids.Text, -1), (PostgresTypeOids.Float4, -1), (PostgresTypeOids.Float8, -1), (PostgresTypeOids.Numeric, -1),
        (PostgresTypeOids.Numeric, ((10 << 16) | 2) + 4), (PostgresTypeOids.Money, -1), (PostgresTypeOids.Bytea, -1),
        (PostgresTypeOids.Date, -1), (PostgresTypeOids.Time, -1), (PostgresTypeOids.Time, 3), (PostgresTypeOids.TimeTz, -1),
        (PostgresTypeOids.Timestamp, -1), (PostgresTypeOids.Timestamp, 3), (PostgresTypeOids.TimestampTz, -1),
        (PostgresTypeOids.TimestampTz, 0), (PostgresTypeOids.TimestampTz, 3), (PostgresTypeOids.Interval, -1),
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Gives_what_the_conversion_gives_for_generated_sequences(int seed)
    {
        var random = new Random(seed);
        const int columns = 6;
        var cache = new CanonicalTextCache(columns, Encoding.UTF8);
        // Each column keeps a type for a while and a small pool of values, so repeats are frequent.
        var columnTypes = Enumerable.Range(0, columns).Select(_ => Types[random.Next(Types.Length)]).ToArray();
        var hits = 0;
        var shortValues = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var column = random.Next(columns);
            if (random.Next(500) == 0)
            {
                columnTypes[column] = Types[random.Next(Types.Length)];
            }

            var (type, modifier) = columnTypes[column];
            // Text shared across types too: the same text under another type or modifier must be converted again.
            var text = random.Next(4) == 0 ? SharedText(random) : Text(type, random);
            var bytes = Encoding.UTF8.GetBytes(text);
            var expected = PostgresTextValues.Canonicalize(type, modifier, text);
            var actual = cache.Canonicalize(column, type, modifier, bytes);
            Assert.Equal(expected, actual);
            var again = cache.Canonicalize(column, type, modifier, bytes);
            Assert.Equal(expected, again);
            if (bytes.Length <= CanonicalTextCache.MaxCachedBytes)
            {
                shortValues++;
                hits += ReferenceEquals(actual, again) ? 1 : 0;
            }
        }

        // The repeat right after a short value is served from the cache.
        Assert.True(shortValues > 15_000, $"{shortValues} short values");
        Assert.Equal(shortValues, hits);
    }

    [Fact]
    public void Types_it_does_not_convert_come_back_as_given()
    {
        var random = new Random(7);
        foreach (var (type, modifier) in Types.Where(t => !Converts(t.Type, t.Modifier)))
        {
            for (var i = 0; i < 500; i++)
            {
                var text = random.Next(2) == 0 ? SharedText(random) : Text(type, random);
                Assert.Same(text, PostgresTextValues.Canonicalize(type, modifier, text));
            }
        }
    }

    /// <summary>The types <see cref="PostgresTextValues.Canonicalize"/> rewrites (the others come back as given).</summary>
    private static bool Converts(uint typeOid, int typeModifier) => typeOid switch
    {
        PostgresTypeOids.Bool or PostgresTypeOids.Float4 or PostgresTypeOids.Float8 or PostgresTypeOids.Money or PostgresTypeOids.Bytea
            or PostgresTypeOids.Date or PostgresTypeOids.Time or PostgresTypeOids.TimeTz or PostgresTypeOids.Timestamp or PostgresTypeOids.TimestampTz => true,
        PostgresTypeOids.Bit => typeModifier == 1,
        PostgresTypeOids.Numeric => typeModifier == -1,
        _ => false,
    };

    private static string SharedText(Random random) => random.Next(8) switch
    {
        0 => "1",
        1 => "t",
        2 => "2024-02-29 23:30:00.5",
        3 => "2024-02-29 23:30:00.123456+02",
        4 => "12.500",
        // Same byte lengths, other characters: "é" is two bytes, as is "ü".
        5 => random.Next(2) == 0 ? "caf\u00e9 t" : "caf\u00fc t",
        6 => new string('\u00e9', CanonicalTextCache.MaxCachedBytes / 2 + random.Next(-1, 2)),
        _ => new string('9', CanonicalTextCache.MaxCachedBytes + random.Next(-1, 3)),
    };

    private static string Text(uint type, Random random)
    {
        var n = random.Next(8);
        return type switch
        {
            PostgresTypeOids.Bool => n % 2 == 0 ? "t" : "f",
            PostgresTypeOids.Bit => n % 2 == 0 ? "1" : "0",
            PostgresTypeOids.Float4 or PostgresTypeOids.Float8 => (n * 1.25e-4 * Math.Pow(10, n)).ToString("R", CultureInfo.InvariantCulture),
            PostgresTypeOids.Numeric => n + "." + new string('0', n % 3) + (n % 2 == 0 ? "5" : ""),
            PostgresTypeOids.Money => "$1," + n.ToString("000", CultureInfo.InvariantCulture) + ".50",
            PostgresTypeOids.Bytea => "\\x" + Convert.ToHexString(BitConverter.GetBytes(n * 7919)),
            PostgresTypeOids.Date => $"20{10 + n}-0{1 + n}-1{n}",
            PostgresTypeOids.Time => $"1{n}:3{n}:0{n}.{n}5",
            PostgresTypeOids.TimeTz => $"1{n}:3{n}:0{n}+0{n}",
            PostgresTypeOids.Timestamp => $"20{10 + n}-0{1 + n}-1{n} 1{n}:3{n}:0{n}.{n}0{n}",
            PostgresTypeOids.TimestampTz => $"20{10 + n}-0{1 + n}-1{n} 1{n}:3{n}:0{n}.{n}0{n}+0{n}",
            _ => n == 7 ? new string('x', CanonicalTextCache.MaxCachedBytes + 1) : n == 6 ? "\u6f22\u5b57 " + n : "value " + n,
        };
    }
}
