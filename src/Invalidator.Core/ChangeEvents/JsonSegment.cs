using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// Where one JSON value sits in the record bytes. The decoder remembers values by position and reads them
/// later with a fresh <see cref="Utf8JsonReader"/>, so nothing is materialised that is not needed.
/// </summary>
internal readonly record struct JsonSegment(int Start, int Length, JsonTokenType Type)
{
    public bool IsPresent => Type != JsonTokenType.None;

    public bool IsNull => Type == JsonTokenType.Null;

    public bool IsObject => Type == JsonTokenType.StartObject;

    /// <summary>Present and not JSON null.</summary>
    public bool HasValue => IsPresent && !IsNull;

    public ReadOnlySpan<byte> Of(ReadOnlySpan<byte> json) => json.Slice(Start, Length);

    /// <summary>Takes the value the reader is on (skipping over it if it is a container); offsets are made relative to <paramref name="baseOffset"/>.</summary>
    public static JsonSegment Take(ref Utf8JsonReader reader, int baseOffset)
    {
        var type = reader.TokenType;
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        return new JsonSegment(baseOffset + start, (int)reader.BytesConsumed - start, type);
    }

    /// <summary>Reads on to the next value (after a property name) and takes it, as <see cref="Take"/>.</summary>
    public static JsonSegment TakeNext(ref Utf8JsonReader reader, int baseOffset)
    {
        reader.Read();
        return Take(ref reader, baseOffset);
    }

    /// <summary>A reader positioned on this segment's first token.</summary>
    public Utf8JsonReader Open(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(Of(json), JsonText.ReaderOptions);
        reader.Read();
        return reader;
    }

    public bool TextEquals(ReadOnlySpan<byte> json, ReadOnlySpan<byte> utf8Text)
    {
        if (Type != JsonTokenType.String)
        {
            return false;
        }

        var reader = Open(json);
        return reader.ValueTextEquals(utf8Text);
    }

    /// <summary>A string with at least one character (the token is longer than its two quotes).</summary>
    public bool IsNonEmptyString => Type == JsonTokenType.String && Length > 2;

    /// <summary>The unescaped text of a string segment; null for anything else.</summary>
    public string? GetString(ReadOnlySpan<byte> json)
    {
        if (Type != JsonTokenType.String)
        {
            return null;
        }

        var reader = Open(json);
        return reader.GetString();
    }
}

internal static class JsonText
{
    // Deeper than the default 64: json/jsonb columns arrive as nested objects and may nest deeply.
    public static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };

    private static readonly SearchValues<byte> Whitespace = SearchValues.Create(" \t\r\n"u8);

    public static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.StartObject => "object",
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => type.ToString(),
    };

    /// <summary>
    /// The unescaped UTF-8 of the string token the reader is on. Escaped strings are rare (Gson writes '=' as
    /// \u003d) and are unescaped into <paramref name="rented"/>, which the caller returns to the pool.
    /// </summary>
    public static ReadOnlySpan<byte> Unescaped(ref Utf8JsonReader reader, ref byte[]? rented)
    {
        if (!reader.ValueIsEscaped)
        {
            return reader.ValueSpan;
        }

        rented = ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length);
        var length = reader.CopyString(rented);
        return rented.AsSpan(0, length);
    }

    public static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Compact text of an already validated JSON value: whitespace outside strings is dropped, everything
    /// else (number text, string escapes) stays byte for byte as the connector wrote it.
    /// </summary>
    public static string Compact(ReadOnlySpan<byte> raw)
    {
        if (raw.IndexOfAny(Whitespace) < 0)
        {
            return Encoding.UTF8.GetString(raw);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(raw.Length);
        try
        {
            var length = 0;
            var inString = false;
            var escaped = false;
            foreach (var b in raw)
            {
                if (inString)
                {
                    if (escaped)
                    {
                        escaped = false;
                    }
                    else if (b == (byte)'\\')
                    {
                        escaped = true;
                    }
                    else if (b == (byte)'"')
                    {
                        inString = false;
                    }
                }
                else if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
                {
                    continue;
                }
                else if (b == (byte)'"')
                {
                    inString = true;
                }

                buffer[length++] = b;
            }

            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
