namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// One image of a row (before, after, or the record key): column name to canonical value.
/// A column that is absent from the image is "missing", which differs from SQL NULL.
/// </summary>
public sealed class RowImage
{
    private readonly Dictionary<string, ColumnValue> _columns;

    public RowImage(IEnumerable<KeyValuePair<string, ColumnValue>> columns)
    {
        _columns = new Dictionary<string, ColumnValue>(columns, StringComparer.Ordinal);
    }

    public static RowImage Empty { get; } = new([]);

    public int Count => _columns.Count;

    public IEnumerable<string> ColumnNames => _columns.Keys;

    public bool TryGet(string column, out ColumnValue value) => _columns.TryGetValue(column, out value);

    public bool Contains(string column) => _columns.ContainsKey(column);

    public IReadOnlyDictionary<string, ColumnValue> Columns => _columns;
}
