namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// What <see cref="DebeziumDecoder.TryDecodeInto"/> read of one record, in rows that are reused for the next one:
/// the worker's decode-and-plan path, which never builds a <see cref="ChangeEvent"/>. Not thread-safe.
/// </summary>
internal sealed class DecodeScratch
{
    public ScratchRow BeforeRow { get; } = new();

    public ScratchRow AfterRow { get; } = new();

    public ScratchRow KeyRow { get; } = new();

    public string Table { get; set; } = "";

    public ChangeOperation Operation { get; set; }

    public DateTimeOffset? CommitTime { get; set; }

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

    public void Reset(TableDecodingHints hints)
    {
        var columns = hints.UsedColumns!;
        BeforeRow.Reset(columns, hints.UsedColumnsUtf8);
        AfterRow.Reset(columns, hints.UsedColumnsUtf8);
        KeyRow.Reset(columns, hints.UsedColumnsUtf8);
    }
}
