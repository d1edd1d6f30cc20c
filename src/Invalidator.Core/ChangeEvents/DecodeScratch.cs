namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// What <see cref="DebeziumDecoder.TryDecodeInto"/> read of one record, in rows that are reused for the next one:
/// the worker's decode-and-plan path, which never builds a <see cref="ChangeEvent"/>. Not thread-safe.
/// </summary>
internal sealed class DecodeScratch
{
    private ScratchRow _beforeRow = new();
    private ScratchRow _afterRow = new();

    public ScratchRow BeforeRow => _beforeRow;

    public ScratchRow AfterRow => _afterRow;

    public ScratchRow KeyRow { get; } = new();

    /// <summary>The rows read while the envelope was scanned, for the table guessed.</summary>
    public RowPrefill Prefill { get; } = new();

    public string Table { get; set; } = "";

    public ChangeOperation Operation { get; set; }

    public DateTimeOffset? CommitTime { get; set; }

    /// <summary>The hints of the table whose change this record started (null until one did).</summary>
    public TableDecodingHints? TableHints { get; private set; }

    /// <summary>The images as the planner sees them: null where the record has none (as a decoded change's would be).</summary>
    public IRowValues? Before => BeforeRow.HasRow ? BeforeRow : null;

    public IRowValues? After => AfterRow.HasRow ? AfterRow : null;

    public IRowValues? Key => KeyRow.HasRow ? KeyRow : null;

    public ScratchRow Row(ChangeImage image) => image switch
    {
        ChangeImage.Key => KeyRow,
        ChangeImage.Before => BeforeRow,
        _ => AfterRow,
    };

    /// <summary>The row read during the scan becomes the image's row, when it is exactly what reading the segment gives.</summary>
    public bool TryTakePrefilled(
        ChangeImage image, JsonSegment segment, DecimalColumns? decimals, RowScope scope, bool skipMetadata, TableDecodingHints? hints, IRowValues? trusted) =>
        image switch
        {
            ChangeImage.Before => Prefill.TryTake(image, segment, decimals, scope, skipMetadata, hints, trusted, ref _beforeRow),
            ChangeImage.After => Prefill.TryTake(image, segment, decimals, scope, skipMetadata, hints, trusted, ref _afterRow),
            _ => false,
        };

    /// <summary>A record starts: its rows are read during the scan for <paramref name="guess"/>, the table its topic's last record had.</summary>
    public void BeginRecord(TableDecodingHints? guess, NameCache names)
    {
        TableHints = null;
        Prefill.Begin(guess, names);
    }

    public void Reset(TableDecodingHints hints)
    {
        var columns = hints.UsedColumns!;
        TableHints = hints;
        BeforeRow.Reset(columns, hints.UsedColumnsUtf8);
        AfterRow.Reset(columns, hints.UsedColumnsUtf8);
        KeyRow.Reset(columns, hints.UsedColumnsUtf8);
    }
}
