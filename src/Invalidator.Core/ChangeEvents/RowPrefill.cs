using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// The worker's before and after rows, read while the envelope's scan passes over them instead of skipped and read
/// again. Debezium writes the images before the source block that names the table, so they are read for a guess (the
/// table of the topic's last record) and taken only when the record proves the guess: the same table hints, schema
/// decimals and segment, and a read the second pass would have made exactly so (no trusted columns, no metadata to
/// skip). Anything else leaves the rows unused and the record's rows are read from their segments as before.
/// Owned by a <see cref="DecodeScratch"/>; valid for one record.
/// </summary>
internal sealed class RowPrefill
{
    private NameCache _names = null!;
    private TableDecodingHints? _hints;
    private DecimalColumns? _decimals;
    private int _beforeStart = -1;
    private int _afterStart = -1;

    public ScratchRow Before { get; private set; } = new();

    /// <summary>How many rows were taken from the scan (for tests: that a wrong guess is what they exercise).</summary>
    public long Taken { get; private set; }

    public ScratchRow After { get; private set; } = new();

    /// <summary>A record starts: its rows are read for <paramref name="guess"/> (none when null), with the decoder's names.</summary>
    public void Begin(TableDecodingHints? guess, NameCache names)
    {
        _names = names;
        _hints = guess is { UsedColumns: not null, TrustsOnlyKeyColumns: false } ? guess : null;
        _decimals = null;
        _beforeStart = _afterStart = -1;
    }

    /// <summary>Whether the scan should read rows at all.</summary>
    public bool IsActive => _hints is not null;

    /// <summary>A scan of the envelope starts, whose rows are read with the schema's <paramref name="decimals"/>; what an earlier scan read is dropped.</summary>
    public void BeginScan(DecimalColumns? decimals)
    {
        _decimals = decimals;
        _beforeStart = _afterStart = -1;
    }

    /// <summary>
    /// Takes the image's value the reader is before (on its property name), as <see cref="JsonSegment.Take"/> would, and
    /// when it is an object, reads it into the image's row.
    /// </summary>
    public JsonSegment ReadNext(ChangeImage image, ref Utf8JsonReader reader, int baseOffset, ReadOnlySpan<byte> readerJson)
    {
        reader.Read();
        SetStart(image, -1);
        if (_hints is not { } hints || reader.TokenType != JsonTokenType.StartObject)
        {
            return JsonSegment.Take(ref reader, baseOffset);
        }

        var start = (int)reader.TokenStartIndex;
        var row = image == ChangeImage.Before ? Before : After;
        row.Reset(hints.UsedColumns!, hints.UsedColumnsUtf8);
        var sink = new ScratchRowSink(row);
        var scope = image == ChangeImage.Before ? RowScope.Before : RowScope.After;
        var part = image == ChangeImage.Before ? "'before' image" : "'after' image";
        if (RowImageReader.ReadObject(ref reader, readerJson, part, _decimals, scope, skipMetadata: false, hints, null, _names, ref sink) == RowRead.Read)
        {
            SetStart(image, baseOffset + start);
        }
        else
        {
            // Declined on a column's name: the rest of the row is passed over as a skip would.
            reader.Skip();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                reader.Skip();
            }
        }

        return new JsonSegment(baseOffset + start, (int)reader.BytesConsumed - start, JsonTokenType.StartObject);
    }

    /// <summary>
    /// The row read for <paramref name="image"/> when it is exactly what reading <paramref name="segment"/> with these
    /// arguments gives, swapped with <paramref name="row"/> (the scratch's row, which the prefill reuses); false otherwise.
    /// </summary>
    public bool TryTake(
        ChangeImage image, JsonSegment segment, DecimalColumns? decimals, RowScope scope, bool skipMetadata, TableDecodingHints? hints,
        IRowValues? trusted, ref ScratchRow row)
    {
        var start = image == ChangeImage.Before ? _beforeStart : _afterStart;
        if (start < 0 || !segment.IsObject || segment.Start != start || hints is null || !ReferenceEquals(hints, _hints)
            || !ReferenceEquals(decimals, _decimals) || skipMetadata || trusted is not null
            || scope != (image == ChangeImage.Before ? RowScope.Before : RowScope.After))
        {
            return false;
        }

        SetStart(image, -1);
        Taken++;
        if (image == ChangeImage.Before)
        {
            (row, Before) = (Before, row);
        }
        else
        {
            (row, After) = (After, row);
        }

        return true;
    }

    private void SetStart(ChangeImage image, int start)
    {
        if (image == ChangeImage.Before)
        {
            _beforeStart = start;
        }
        else
        {
            _afterStart = start;
        }
    }
}
