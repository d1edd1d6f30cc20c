using System.Text;
using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// Reads the documents of Debezium's MongoDB connector: its <c>before</c>, <c>after</c>, <c>updatedFields</c>,
/// <c>patch</c> and <c>filter</c> are JSON strings holding MongoDB Extended JSON, and its record key is
/// <c>{"id": "&lt;the _id as Extended JSON&gt;"}</c>. A document becomes a row whose columns are its top-level fields.
/// </summary>
/// <remarks>
/// Values render to the text an application would put in a key: the wrappers of Extended JSON (canonical or relaxed
/// mode) are taken off scalars (<c>{"$oid":"5f1..."}</c> is <c>5f1...</c>, <c>{"$numberLong":"1004"}</c> is
/// <c>1004</c>, <c>{"$date":{"$numberLong":"1712000000000"}}</c> is <c>1712000000000</c>), so an <c>_id</c> reads the
/// same from the document and from the record key. Other structures (sub-documents, arrays, binary) are compact JSON.
/// </remarks>
internal static class MongoDocuments
{
    /// <summary>The column the document's identifier is in.</summary>
    public const string IdColumn = "_id";

    /// <summary>The document in a JSON string (<paramref name="part"/> names it in errors).</summary>
    public static RowImage Read(string json, string part, ColumnValue? id = null) => Read(Encoding.UTF8.GetBytes(json), part, id);

    /// <summary>The document in <paramref name="json"/>, plus <c>_id</c> from <paramref name="id"/> when the document lacks it.</summary>
    public static RowImage Read(ReadOnlySpan<byte> json, string part, ColumnValue? id = null)
    {
        var columns = new List<KeyValuePair<string, ColumnValue>>();
        try
        {
            var reader = new Utf8JsonReader(json, JsonText.ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new ChangeEventFormatException(
                    $"The MongoDB {part} is a JSON {JsonText.Describe(reader.TokenType)}, not a document (a JSON object).");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!; // documents are rare: their names are not cached
                reader.Read();
                columns.Add(new(name, Value(ref reader, json)));
            }

            reader.Read(); // throws when anything but whitespace follows the document
        }
        catch (JsonException ex)
        {
            throw new ChangeEventFormatException($"The MongoDB {part} is not valid JSON: {ex.Message}", ex);
        }

        if (id is { } value && !columns.Exists(c => c.Key == IdColumn))
        {
            columns.Add(new(IdColumn, value));
        }

        try
        {
            return new RowImage(columns);
        }
        catch (ArgumentException ex)
        {
            throw new ChangeEventFormatException($"The MongoDB {part} has the same field twice ({ex.Message}).", ex);
        }
    }

    /// <summary>
    /// The <c>_id</c> that Debezium's MongoDB key carries as Extended JSON text (<c>"1004"</c>, <c>"\"abc\""</c>,
    /// <c>"{\"$oid\": \"5f1...\"}"</c>); null when the text is not JSON.
    /// </summary>
    public static ColumnValue? Id(string extendedJson)
    {
        var json = Encoding.UTF8.GetBytes(extendedJson);
        try
        {
            var reader = new Utf8JsonReader(json, JsonText.ReaderOptions);
            if (!reader.Read())
            {
                return null;
            }

            var value = Value(ref reader, json);
            return reader.Read() ? null : value; // anything after the value: not one JSON value
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The value the reader is on, as canonical text; leaves the reader on its last token.</summary>
    private static ColumnValue Value(ref Utf8JsonReader reader, ReadOnlySpan<byte> json)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return ColumnValue.Null;
            case JsonTokenType.True:
                return ColumnValue.Of("true");
            case JsonTokenType.False:
                return ColumnValue.Of("false");
            case JsonTokenType.Number:
                return ColumnValue.Of(Encoding.UTF8.GetString(reader.ValueSpan));
            case JsonTokenType.String:
                return ColumnValue.Of(reader.GetString()!);
            default:
                var start = (int)reader.TokenStartIndex;
                var type = reader.TokenType;
                reader.Skip();
                var raw = json[start..(int)reader.BytesConsumed];
                return type == JsonTokenType.StartObject && Unwrapped(raw) is { } scalar
                    ? scalar
                    : ColumnValue.Of(JsonText.Compact(raw));
        }
    }

    /// <summary>The scalar inside an Extended JSON wrapper (<c>{"$oid": ...}</c>, <c>{"$numberLong": ...}</c>, ...); null for anything else.</summary>
    private static ColumnValue? Unwrapped(ReadOnlySpan<byte> raw)
    {
        var reader = new Utf8JsonReader(raw, JsonText.ReaderOptions);
        reader.Read();
        if (!reader.Read() || reader.TokenType != JsonTokenType.PropertyName)
        {
            return null;
        }

        var isDate = reader.ValueTextEquals("$date"u8);
        var isScalar = isDate
            || reader.ValueTextEquals("$oid"u8)
            || reader.ValueTextEquals("$numberLong"u8)
            || reader.ValueTextEquals("$numberInt"u8)
            || reader.ValueTextEquals("$numberDouble"u8)
            || reader.ValueTextEquals("$numberDecimal"u8)
            || reader.ValueTextEquals("$symbol"u8);
        if (!isScalar)
        {
            return null;
        }

        reader.Read();
        ColumnValue? value = reader.TokenType switch
        {
            JsonTokenType.String => ColumnValue.Of(reader.GetString()!),
            // Relaxed mode writes a date as milliseconds; canonical mode wraps them in $numberLong.
            JsonTokenType.Number when isDate => ColumnValue.Of(Encoding.UTF8.GetString(reader.ValueSpan)),
            JsonTokenType.StartObject when isDate => Value(ref reader, raw) is { Kind: ColumnValueKind.Present } inner && !inner.Text!.StartsWith('{') ? inner : null,
            _ => null,
        };
        if (value is null)
        {
            return null;
        }

        // Exactly one field: {"$binary": ..., "$type": ...} and other multi-field wrappers stay JSON.
        return reader.Read() && reader.TokenType == JsonTokenType.EndObject ? value : null;
    }
}
