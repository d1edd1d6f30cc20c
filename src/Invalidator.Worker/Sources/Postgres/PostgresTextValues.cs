using System.Globalization;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// Renders a column value as Postgres writes it in text form (what pgoutput sends) to the canonical text the
/// <see cref="DebeziumDecoder"/> produces for the same value from Debezium's Postgres connector with its default
/// settings (<c>decimal.handling.mode=precise</c>, <c>time.precision.mode=adaptive</c>,
/// <c>binary.handling.mode=bytes</c>), so one rules file yields the same keys from either source.
/// </summary>
/// <remarks>
/// Expects the session settings <see cref="RequiredSessionSettings"/> (ISO dates, hex bytea, C money).
/// Types without a rule below (arrays, intervals, ranges, bit strings, geometry) and values this class cannot
/// parse are kept as Postgres wrote them; Debezium renders those differently, so key templates should use
/// the types listed here.
/// </remarks>
internal static class PostgresTextValues
{
    /// <summary>Session settings (for the connection's <c>options</c>) that make the text forms parseable here.</summary>
    public const string RequiredSessionSettings =
        "-c DateStyle=ISO,YMD -c IntervalStyle=postgres -c bytea_output=hex -c extra_float_digits=1 -c lc_monetary=C";

    // Debezium's PGStatement.DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY, emitted for timestamp 'infinity'.
    private const long PositiveInfinityTimestamp = 9223372036825200000L;
    private const long NegativeInfinityTimestamp = -9223372036832400000L;

    private const long MicrosPerSecond = 1_000_000;
    private const long MicrosPerDay = 86_400 * MicrosPerSecond;

    /// <summary>The canonical text of <paramref name="text"/>, a value of type <paramref name="typeOid"/> with modifier <paramref name="typeModifier"/> (-1 when none).</summary>
    public static string Canonicalize(uint typeOid, int typeModifier, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var canonical = typeOid switch
        {
            PostgresTypeOids.Bool => text switch { "t" => "true", "f" => "false", _ => null },
            PostgresTypeOids.Bit when typeModifier == 1 => text switch { "1" => "true", "0" => "false", _ => null },
            PostgresTypeOids.Float4 => FormatFloat(text),
            PostgresTypeOids.Float8 => FormatDouble(text),
            PostgresTypeOids.Numeric => typeModifier == -1 ? StripTrailingZeros(text) : text,
            PostgresTypeOids.Money => Money(text),
            PostgresTypeOids.Bytea => Bytea(text),
            PostgresTypeOids.Date => Date(text),
            PostgresTypeOids.Time => Time(text, typeModifier),
            PostgresTypeOids.TimeTz => TimeTz(text),
            PostgresTypeOids.Timestamp => Timestamp(text, typeModifier),
            PostgresTypeOids.TimestampTz => TimestampTz(text, typeModifier),
            _ => text,
        };
        return canonical ?? text;
    }

    /// <summary>
    /// Unconstrained <c>numeric</c> is Debezium's VariableScaleDecimal, whose value has its trailing zeros
    /// stripped (Java <c>stripTrailingZeros</c>, never to a negative scale): "12.500" is "12.5", "100" stays.
    /// </summary>
    private static string StripTrailingZeros(string text)
    {
        var point = text.IndexOf('.', StringComparison.Ordinal);
        if (point < 0)
        {
            return text; // integers, NaN, Infinity
        }

        var end = text.Length;
        while (end > point + 1 && text[end - 1] == '0')
        {
            end--;
        }

        if (end == point + 1)
        {
            end = point; // no fraction left: drop the point too
        }

        var result = text[..end];
        return result is "-0" ? "0" : result;
    }

    /// <summary>Money is a Decimal of scale 2: "$1,234.50" (lc_monetary C) is "1234.50".</summary>
    private static string? Money(string text)
    {
        Span<char> buffer = stackalloc char[text.Length];
        var length = 0;
        foreach (var c in text)
        {
            if (char.IsAsciiDigit(c) || c is '.' or '-')
            {
                buffer[length++] = c;
            }
        }

        return length == 0 ? null : new string(buffer[..length]);
    }

    /// <summary>bytea (hex output, "\x0102") is base64 of the bytes, as JsonConverter writes Connect bytes.</summary>
    private static string? Bytea(string text)
    {
        if (!text.StartsWith("\\x", StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            return Convert.ToBase64String(Convert.FromHexString(text.AsSpan(2)));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>io.debezium.time.Date: days since the epoch.</summary>
    private static string? Date(string text)
    {
        var reader = new TextCursor(text);
        if (!reader.TryReadDate(out var days) || !reader.TryReadEra(ref days) || !reader.AtEnd)
        {
            return null;
        }

        return days.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>time(0-3) is io.debezium.time.Time (milliseconds past midnight); time(4-6) and time are MicroTime.</summary>
    private static string? Time(string text, int precision)
    {
        var reader = new TextCursor(text);
        if (!reader.TryReadTime(out var micros) || !reader.AtEnd)
        {
            return null;
        }

        return IsMillisecondPrecision(precision)
            ? (micros / 1000).ToString(CultureInfo.InvariantCulture)
            : micros.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>io.debezium.time.ZonedTime: the time moved to UTC, ISO-8601 with as many fraction digits as needed.</summary>
    private static string? TimeTz(string text)
    {
        var reader = new TextCursor(text);
        if (!reader.TryReadTime(out var micros) || !reader.TryReadOffset(out var offsetSeconds) || !reader.AtEnd)
        {
            return null;
        }

        var utc = ((micros - (offsetSeconds * MicrosPerSecond)) % MicrosPerDay + MicrosPerDay) % MicrosPerDay;
        return string.Concat(FormatTimeOfDay(utc, fractionDigits: null), "Z");
    }

    /// <summary>
    /// timestamp(0-3) is io.debezium.time.Timestamp (epoch milliseconds); timestamp(4-6) and timestamp are
    /// MicroTimestamp (epoch microseconds). The value has no zone and is taken as UTC, as Debezium does.
    /// </summary>
    private static string? Timestamp(string text, int precision)
    {
        switch (text)
        {
            case "infinity": return PositiveInfinityTimestamp.ToString(CultureInfo.InvariantCulture);
            case "-infinity": return NegativeInfinityTimestamp.ToString(CultureInfo.InvariantCulture);
        }

        var reader = new TextCursor(text);
        if (!reader.TryReadDateTime(out var micros) || !reader.TryReadEraAdjusting(ref micros) || !reader.AtEnd)
        {
            return null;
        }

        return IsMillisecondPrecision(precision)
            ? FloorDivide(micros, 1000).ToString(CultureInfo.InvariantCulture)
            : micros.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// io.debezium.time.ZonedTimestamp: the instant in UTC, ISO-8601, with exactly as many fraction digits as
    /// the column's precision (6 for plain timestamptz) since Debezium 2.2; timestamptz(0) has none.
    /// </summary>
    private static string? TimestampTz(string text, int precision)
    {
        if (text is "infinity" or "-infinity")
        {
            return text;
        }

        var reader = new TextCursor(text);
        if (!reader.TryReadDateTime(out var micros) || !reader.TryReadOffset(out var offsetSeconds)
            || !reader.TryReadEraAdjusting(ref micros) || !reader.AtEnd)
        {
            return null;
        }

        var utc = micros - (offsetSeconds * MicrosPerSecond);
        var days = FloorDivide(utc, MicrosPerDay);
        var timeOfDay = utc - (days * MicrosPerDay);
        var width = precision < 0 ? 6 : precision;
        return string.Concat(FormatDate(days), "T", FormatTimeOfDay(timeOfDay, width == 0 ? null : width), "Z");
    }

    private static bool IsMillisecondPrecision(int precision) => precision is >= 0 and <= 3;

    /// <summary>Java's <c>Double.toString</c>, which is how Kafka Connect's JsonConverter writes a FLOAT64.</summary>
    private static string? FormatDouble(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? JavaFloatingPoint(value.ToString("R", CultureInfo.InvariantCulture), double.IsNaN(value), double.IsInfinity(value), double.IsNegative(value))
            : null;

    /// <summary>Java's <c>Float.toString</c> (FLOAT32).</summary>
    private static string? FormatFloat(string text) =>
        float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? JavaFloatingPoint(value.ToString("R", CultureInfo.InvariantCulture), float.IsNaN(value), float.IsInfinity(value), float.IsNegative(value))
            : null;

    /// <summary>
    /// Reformats .NET's shortest round-trip text as Java does: plain notation with at least one fraction digit
    /// for 10^-3 &lt;= |x| &lt; 10^7 ("100.0", "0.001"), otherwise "d.dddE±n" ("1.0E20", "1.0E-4").
    /// </summary>
    private static string JavaFloatingPoint(string shortest, bool isNaN, bool isInfinity, bool isNegative)
    {
        if (isNaN)
        {
            return "NaN";
        }

        if (isInfinity)
        {
            return isNegative ? "-Infinity" : "Infinity";
        }

        var sign = isNegative ? "-" : "";
        var body = shortest.TrimStart('-');
        var exponentAt = body.IndexOfAny(['E', 'e']);
        var exponent = exponentAt < 0 ? 0 : int.Parse(body.AsSpan(exponentAt + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var mantissa = exponentAt < 0 ? body : body[..exponentAt];
        var point = mantissa.IndexOf('.', StringComparison.Ordinal);
        var digits = point < 0 ? mantissa : string.Concat(mantissa.AsSpan(0, point), mantissa.AsSpan(point + 1));
        var pointPosition = (point < 0 ? mantissa.Length : point) + exponent; // digits before the decimal point

        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        if (digits.Length == 0)
        {
            return sign + "0.0";
        }

        pointPosition -= leadingZeros;
        var scientificExponent = pointPosition - 1; // value = d.ddd × 10^scientificExponent
        if (scientificExponent is >= -3 and < 7)
        {
            if (pointPosition <= 0)
            {
                return string.Concat(sign, "0.", new string('0', -pointPosition), digits);
            }

            if (pointPosition >= digits.Length)
            {
                return string.Concat(sign, digits, new string('0', pointPosition - digits.Length), ".0");
            }

            return string.Concat(sign, digits.AsSpan(0, pointPosition), ".", digits.AsSpan(pointPosition));
        }

        var fraction = digits.Length > 1 ? digits[1..] : "0";
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{digits[0]}.{fraction}E{scientificExponent}");
    }

    /// <summary>Java's ISO_LOCAL_DATE: at least four year digits, '+' above 9999, '-' before year 0.</summary>
    private static string FormatDate(long epochDays)
    {
        var (year, month, day) = CivilFromDays(epochDays);
        var yearText = year switch
        {
            > 9999 => "+" + year.ToString(CultureInfo.InvariantCulture),
            < 0 => "-" + (-year).ToString("0000", CultureInfo.InvariantCulture),
            _ => year.ToString("0000", CultureInfo.InvariantCulture),
        };
        return string.Create(CultureInfo.InvariantCulture, $"{yearText}-{month:00}-{day:00}");
    }

    /// <summary>HH:mm:ss, then exactly <paramref name="fractionDigits"/> digits, or (null) as few as needed (none for whole seconds).</summary>
    private static string FormatTimeOfDay(long micros, int? fractionDigits)
    {
        var seconds = micros / MicrosPerSecond;
        var fraction = micros % MicrosPerSecond;
        var text = string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:00}:{seconds / 60 % 60:00}:{seconds % 60:00}");
        var digits = fraction.ToString("000000", CultureInfo.InvariantCulture);
        if (fractionDigits is { } width)
        {
            // Postgres keeps at most 6 digits; wider columns (not possible in Postgres) would pad with zeros.
            return string.Concat(text, ".", width <= 6 ? digits[..width] : digits + new string('0', width - 6));
        }

        digits = digits.TrimEnd('0');
        return digits.Length == 0 ? text : string.Concat(text, ".", digits);
    }

    private static long FloorDivide(long value, long divisor)
    {
        var quotient = value / divisor;
        return (value % divisor != 0 && ((value < 0) != (divisor < 0))) ? quotient - 1 : quotient;
    }

    /// <summary>Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil); any year.</summary>
    internal static long DaysFromCivil(long year, int month, int day)
    {
        year -= month <= 2 ? 1 : 0;
        var era = FloorDivide(year, 400);
        var yearOfEra = year - (era * 400);
        var dayOfYear = ((153 * (month + (month > 2 ? -3 : 9))) + 2) / 5 + day - 1;
        var dayOfEra = (yearOfEra * 365) + (yearOfEra / 4) - (yearOfEra / 100) + dayOfYear;
        return (era * 146097) + dayOfEra - 719468;
    }

    private static (long Year, int Month, int Day) CivilFromDays(long days)
    {
        days += 719468;
        var era = FloorDivide(days, 146097);
        var dayOfEra = days - (era * 146097);
        var yearOfEra = (dayOfEra - (dayOfEra / 1460) + (dayOfEra / 36524) - (dayOfEra / 146096)) / 365;
        var dayOfYear = dayOfEra - ((365 * yearOfEra) + (yearOfEra / 4) - (yearOfEra / 100));
        var monthIndex = ((5 * dayOfYear) + 2) / 153;
        var day = (int)(dayOfYear - (((153 * monthIndex) + 2) / 5) + 1);
        var month = (int)(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9);
        return (yearOfEra + (era * 400) + (month <= 2 ? 1 : 0), month, day);
    }

    /// <summary>A forward-only reader over Postgres' ISO date and time text.</summary>
    private ref struct TextCursor(string text)
    {
        private readonly ReadOnlySpan<char> _text = text;
        private int _position;
        private long _dateDays;
        private long _year;

        public readonly bool AtEnd => _position == _text.Length;

        /// <summary>"YYYY-MM-DD" (four or more year digits) as days since the epoch.</summary>
        public bool TryReadDate(out long days)
        {
            days = 0;
            if (!TryReadDigits(4, 9, out _year) || !TryRead('-') || !TryReadDigits(2, 2, out var month)
                || !TryRead('-') || !TryReadDigits(2, 2, out var day) || month is < 1 or > 12 || day is < 1 or > 31)
            {
                return false;
            }

            days = _dateDays = DaysFromCivil(_year, (int)month, (int)day);
            return true;
        }

        /// <summary>"HH:MM:SS[.ffffff]" as microseconds past midnight (24:00:00 allowed, as in Postgres).</summary>
        public bool TryReadTime(out long micros)
        {
            micros = 0;
            if (!TryReadDigits(2, 2, out var hours) || !TryRead(':') || !TryReadDigits(2, 2, out var minutes)
                || !TryRead(':') || !TryReadDigits(2, 2, out var seconds))
            {
                return false;
            }

            long fraction = 0;
            if (TryRead('.'))
            {
                var start = _position;
                if (!TryReadDigits(1, 6, out fraction))
                {
                    return false;
                }

                for (var digits = _position - start; digits < 6; digits++)
                {
                    fraction *= 10;
                }
            }

            micros = ((((hours * 60) + minutes) * 60) + seconds) * MicrosPerSecond + fraction;
            return hours <= 24 && minutes < 60 && seconds < 60;
        }

        public bool TryReadDateTime(out long epochMicros)
        {
            epochMicros = 0;
            if (!TryReadDate(out var days) || !TryRead(' ') || !TryReadTime(out var micros))
            {
                return false;
            }

            epochMicros = (days * MicrosPerDay) + micros;
            return true;
        }

        /// <summary>"+HH", "+HH:MM" or "+HH:MM:SS" (or '-') as seconds east of UTC.</summary>
        public bool TryReadOffset(out long seconds)
        {
            seconds = 0;
            if (_position >= _text.Length || _text[_position] is not ('+' or '-'))
            {
                return false;
            }

            var negative = _text[_position++] == '-';
            if (!TryReadDigits(2, 2, out var hours))
            {
                return false;
            }

            long minutes = 0, secs = 0;
            if (TryRead(':') && !TryReadDigits(2, 2, out minutes))
            {
                return false;
            }

            if (TryRead(':') && !TryReadDigits(2, 2, out secs))
            {
                return false;
            }

            seconds = (((hours * 60) + minutes) * 60) + secs;
            seconds = negative ? -seconds : seconds;
            return true;
        }

        /// <summary>A " BC" suffix: year N BC is astronomical year 1 - N (Java's proleptic calendar).</summary>
        public bool TryReadEra(ref long days)
        {
            if (!TryReadBc())
            {
                return true;
            }

            days = BcDays();
            return true;
        }

        public bool TryReadEraAdjusting(ref long epochMicros)
        {
            if (!TryReadBc())
            {
                return true;
            }

            epochMicros += (BcDays() - _dateDays) * MicrosPerDay;
            return true;
        }

        private readonly long BcDays()
        {
            var (_, month, day) = CivilFromDays(_dateDays);
            return DaysFromCivil(1 - _year, month, day);
        }

        private bool TryReadBc()
        {
            if (_text[_position..].SequenceEqual(" BC"))
            {
                _position += 3;
                return true;
            }

            return false;
        }

        private bool TryRead(char expected)
        {
            if (_position < _text.Length && _text[_position] == expected)
            {
                _position++;
                return true;
            }

            return false;
        }

        private bool TryReadDigits(int min, int max, out long value)
        {
            value = 0;
            var start = _position;
            while (_position < _text.Length && _position - start < max && char.IsAsciiDigit(_text[_position]))
            {
                value = (value * 10) + (_text[_position++] - '0');
            }

            return _position - start >= min;
        }
    }
}

/// <summary>Built-in Postgres type OIDs (pg_type.oid), as pgoutput's relation messages name column types.</summary>
internal static class PostgresTypeOids
{
    public const uint Bool = 16;
    public const uint Bytea = 17;
    public const uint Int8 = 20;
    public const uint Int2 = 21;
    public const uint Int4 = 23;
    public const uint Text = 25;
    public const uint Json = 114;
    public const uint Float4 = 700;
    public const uint Float8 = 701;
    public const uint Money = 790;
    public const uint BpChar = 1042;
    public const uint VarChar = 1043;
    public const uint Date = 1082;
    public const uint Time = 1083;
    public const uint Timestamp = 1114;
    public const uint TimestampTz = 1184;
    public const uint Interval = 1186;
    public const uint TimeTz = 1266;
    public const uint Bit = 1560;
    public const uint Numeric = 1700;
    public const uint Uuid = 2950;
    public const uint Jsonb = 3802;
}
