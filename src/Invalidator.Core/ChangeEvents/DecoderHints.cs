namespace Invalidator.Core.ChangeEvents;

/// <summary>What a topic's values are, when automatic detection cannot be sure (rule field <c>format</c>).</summary>
public enum RecordFormat
{
    /// <summary>Detect each value: a Debezium envelope by its structure, otherwise an unwrapped row.</summary>
    Auto,

    /// <summary>Every value is a Debezium envelope; one that is not is undecodable (dead-lettered with the reason).</summary>
    Envelope,

    /// <summary>Every value is a row written by the ExtractNewRecordState SMT, whatever its columns are called.</summary>
    Unwrapped,
}

/// <summary>The table's replica identity as the rules declare it (rule field <c>replicaIdentity</c>).</summary>
public enum ReplicaIdentity
{
    /// <summary><c>full</c>: before images carry the whole old row; every column is trusted.</summary>
    Full,

    /// <summary>
    /// <c>default</c>: Postgres sends only the key columns of an old row, and Debezium fills the rest with
    /// placeholders, so only the record key's columns of a before image are trusted.
    /// </summary>
    Default,
}

/// <summary>What the decoder must know about one table before it reads the table's records.</summary>
public sealed class TableDecodingHints
{
    private static readonly IReadOnlySet<string> NoColumns = new HashSet<string>(StringComparer.Ordinal);

    public TableDecodingHints(string table, RecordFormat format, ReplicaIdentity replicaIdentity, IEnumerable<string>? decimals)
    {
        ArgumentNullException.ThrowIfNull(table);
        Table = table;
        Format = format;
        ReplicaIdentity = replicaIdentity;
        Decimals = decimals is null ? NoColumns : new HashSet<string>(decimals, StringComparer.Ordinal);
    }

    /// <summary><c>schema.table</c>.</summary>
    public string Table { get; }

    public RecordFormat Format { get; }

    public ReplicaIdentity ReplicaIdentity { get; }

    /// <summary>Columns that hold decimals, for values that arrive without a schema.</summary>
    public IReadOnlySet<string> Decimals { get; }

    internal bool TrustsOnlyKeyColumns => ReplicaIdentity == ReplicaIdentity.Default;

    /// <summary>The rule states <c>replicaIdentity</c> (<c>full</c> or <c>default</c>).</summary>
    public bool ReplicaIdentityStated { get; init; }

    /// <summary>Deletes of this table are checked for REPLICA IDENTITY DEFAULT's shape: its rule does not state the identity.</summary>
    internal bool WatchesDefaultIdentity => !ReplicaIdentityStated;

    /// <summary>
    /// The columns the table's rule reads (its templates' and <c>changed</c> columns), or null when unknown: the worker's
    /// decode-and-plan path reads only these and skips the others unread.
    /// </summary>
    internal string[]? UsedColumns
    {
        get;
        init
        {
            field = value;
            UsedColumnsUtf8 = value is null ? [] : [.. value.Select(System.Text.Encoding.UTF8.GetBytes)];
        }
    }

    internal IReadOnlyList<byte[]> UsedColumnsUtf8 { get; private set; } = [];
}

/// <summary>
/// The per-table facts the decoder needs before it decodes a record, derived from the rules file: which
/// tables have a rule (a record on their topics is never taken for transaction metadata or a schema change),
/// how their topics are written, their replica identity and their decimal columns. Immutable and shared.
/// </summary>
public sealed class DecoderHints
{
    private readonly Dictionary<string, TableDecodingHints> _tables;

    public DecoderHints(IEnumerable<TableDecodingHints> tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        _tables = tables.ToDictionary(t => t.Table, StringComparer.Ordinal);
        HasFormats = _tables.Values.Any(t => t.Format != RecordFormat.Auto);
    }

    /// <summary>No rules known: every record is detected automatically.</summary>
    public static DecoderHints None { get; } = new([]);

    public bool IsEmpty => _tables.Count == 0;

    /// <summary>Some table states a format other than <see cref="RecordFormat.Auto"/>.</summary>
    internal bool HasFormats { get; }

    /// <summary>The hints of a table that has a rule; null for a table without one.</summary>
    public TableDecodingHints? For(string table) => _tables.GetValueOrDefault(table);

    public bool HasRule(string table) => _tables.ContainsKey(table);
}
