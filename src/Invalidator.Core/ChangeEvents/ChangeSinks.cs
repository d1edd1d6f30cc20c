namespace Invalidator.Core.ChangeEvents;

/// <summary>Which row of a change a read fills.</summary>
internal enum ChangeImage
{
    Key,
    Before,
    After,
}

/// <summary>
/// What the decoder's one read of a record fills: <see cref="RecordingSink"/> records a whole <see cref="ChangeEvent"/>
/// (the full decode, <c>explain</c>), <see cref="PlanningSink"/> keeps only what the worker's one-pass planning needs in
/// reusable rows. Both see the same rules applied to the same bytes.
/// </summary>
internal interface IChangeSink
{
    /// <summary>
    /// True for the full decode. False for the one-pass path, whose read stops (declines the record, which the full decode
    /// then reads) where only a whole <see cref="ChangeEvent"/> serves: tombstones, MongoDB documents, a delete that may
    /// have REPLICA IDENTITY DEFAULT's shape.
    /// </summary>
    bool TakesEveryRecord { get; }

    /// <summary>The key row read so far; null when there is none.</summary>
    IRowValues? Key { get; }

    /// <summary>Where the envelope's scan reads the before and after rows as it passes over them; null to skip them (read later).</summary>
    RowPrefill? Prefill { get; }

    /// <summary>A row change starts, before its rows are read; false declines the record.</summary>
    bool Start(string table, ChangeOperation operation, DateTimeOffset? commitTime, TableDecodingHints? hints);

    /// <summary>Reads one row of the change with <see cref="RowImageReader.Read"/> into the sink's row for <paramref name="image"/>.</summary>
    RowRead Row(
        ChangeImage image, ReadOnlySpan<byte> json, JsonSegment segment, string part, DecimalColumns? decimals, RowScope scope, bool skipMetadata,
        TableDecodingHints? hints, IRowValues? trusted);

    /// <summary>A logical decoding message's prefix and content.</summary>
    void Message(string? prefix, string? content);

    /// <summary>A change only the full decode builds (see <see cref="TakesEveryRecord"/>), built whole.</summary>
    void Whole(ChangeEvent change);
}

/// <summary>The full decode's sink: records the change as a <see cref="ChangeEvent"/>.</summary>
internal struct RecordingSink(List<KeyValuePair<string, ColumnValue>> columns, NameCache names) : IChangeSink
{
    private string _table = "";
    private ChangeOperation _operation;
    private DateTimeOffset? _commitTime;
    private TableDecodingHints? _hints;
    private RowImage? _before;
    private RowImage? _after;
    private string? _prefix;
    private string? _content;
    private ChangeEvent? _whole;

    public readonly bool TakesEveryRecord => true;

    public RowImage? KeyImage { get; private set; }

    public readonly IRowValues? Key => KeyImage;

    public readonly RowPrefill? Prefill => null;

    public bool Start(string table, ChangeOperation operation, DateTimeOffset? commitTime, TableDecodingHints? hints)
    {
        _table = table;
        _operation = operation;
        _commitTime = commitTime;
        _hints = hints;
        return true;
    }

    public RowRead Row(
        ChangeImage image, ReadOnlySpan<byte> json, JsonSegment segment, string part, DecimalColumns? decimals, RowScope scope, bool skipMetadata,
        TableDecodingHints? hints, IRowValues? trusted)
    {
        var row = new RowImageBuilder(columns, names);
        var read = RowImageReader.Read(json, segment, part, decimals, scope, skipMetadata, hints, trusted, names, ref row);
        switch (image)
        {
            case ChangeImage.Key:
                KeyImage = row.Image;
                break;
            case ChangeImage.Before:
                _before = row.Image;
                break;
            default:
                _after = row.Image;
                break;
        }

        return read;
    }

    public void Message(string? prefix, string? content) => (_prefix, _content) = (prefix, content);

    public void Whole(ChangeEvent change) => _whole = change;

    /// <summary>The change read.</summary>
    public readonly ChangeEvent ToChange() => _whole ?? new ChangeEvent(_table, _operation, _before, _after, KeyImage, _commitTime)
    {
        MessagePrefix = _prefix,
        MessageContent = _content,
        SuspectDefaultIdentity = SuspectDefaultIdentity(_operation, _before, KeyImage, _hints),
    };

    /// <summary>A delete shaped like REPLICA IDENTITY DEFAULT's, of a table whose rule does not state its identity.</summary>
    private static bool SuspectDefaultIdentity(ChangeOperation operation, RowImage? before, RowImage? key, TableDecodingHints? hints) =>
        operation == ChangeOperation.Delete && hints is { WatchesDefaultIdentity: true } && before is not null && key is not null
        && DefaultIdentityShape.Matches(before, key);
}

/// <summary>
/// The worker's one-pass sink: a row change of a table with a rule, only the columns the rule uses, into
/// <paramref name="scratch"/>'s reusable rows; it declines every other record.
/// </summary>
internal readonly struct PlanningSink(DecodeScratch scratch, NameCache names) : IChangeSink
{
    public bool TakesEveryRecord => false;

    public IRowValues? Key => scratch.Key;

    public RowPrefill? Prefill => scratch.Prefill.IsActive ? scratch.Prefill : null;

    /// <summary>A table without a rule is declined: the full decode (which still validates the rows) says NoRule.</summary>
    public bool Start(string table, ChangeOperation operation, DateTimeOffset? commitTime, TableDecodingHints? hints)
    {
        if (hints is not { UsedColumns: not null })
        {
            return false;
        }

        scratch.Reset(hints);
        scratch.Table = table;
        scratch.Operation = operation;
        scratch.CommitTime = commitTime;
        return true;
    }

    public RowRead Row(
        ChangeImage image, ReadOnlySpan<byte> json, JsonSegment segment, string part, DecimalColumns? decimals, RowScope scope, bool skipMetadata,
        TableDecodingHints? hints, IRowValues? trusted)
    {
        if (scratch.TryTakePrefilled(image, segment, decimals, scope, skipMetadata, hints, trusted))
        {
            return RowRead.Read;
        }

        var row = new ScratchRowSink(scratch.Row(image));
        return RowImageReader.Read(json, segment, part, decimals, scope, skipMetadata, hints, trusted, names, ref row);
    }

    /// <summary>Planning ignores messages: it needs neither prefix nor content (read all the same, so bad ones are refused alike).</summary>
    public void Message(string? prefix, string? content)
    {
    }

    public void Whole(ChangeEvent change) => throw new InvalidOperationException("The one-pass path takes no whole change.");
}
